//! A fleet judged from the event log: refresh-token families (grants), the reuse of a
//! refresh token across processes, families revoked and sessions lost.
//!
//! The judge does not need to know which process sent a request: every token and API event
//! names its family (the grant the presented or issued token belongs to), and a refresh
//! token presented after an earlier request already redeemed it is a reuse whoever sent it —
//! N processes sharing one credentials file show up as one family with reuses, N processes
//! each with its own login as N families.

use super::super::observed::ObservedEvent;

/// One refused presentation of a refresh token that had already been redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reuse {
    /// The event of the refused request.
    pub seq: u64,
    /// The event that redeemed the same refresh token first, if it is in the log.
    pub first_redeemed: Option<u64>,
    /// Hash of the refresh token presented twice.
    pub token: String,
}

/// What happened to one family (one login's chain of refresh tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FamilyView {
    /// The family id, as the events name it.
    pub family: String,
    /// Its client.
    pub client_id: Option<String>,
    /// Successful refreshes.
    pub refreshes: usize,
    /// Refused reuses of an already-redeemed refresh token.
    pub reuses: Vec<Reuse>,
    /// Reuses tolerated within the server's grace period (answered with tokens).
    pub tolerated_reuses: usize,
    /// The event from which the family was dead: the first refused reuse (the server
    /// revokes the grant) or the first refresh refused as `refresh_token_revoked`.
    pub revoked_at: Option<u64>,
    /// The event of the last refused refresh, when no token request of the family succeeded
    /// after it: whoever held the family must log in again.
    pub lost_at: Option<u64>,
}

/// Every family in the log, in order of first appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FleetView {
    /// The families.
    pub families: Vec<FamilyView>,
}

impl FleetView {
    /// Read the families out of `events`.
    pub(crate) fn of(events: &[ObservedEvent]) -> Self {
        let mut families: Vec<FamilyView> = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let Some(id) = e.family.as_deref() else {
                continue;
            };
            let index = match families.iter().position(|f| f.family == id) {
                Some(index) => index,
                None => {
                    families.push(FamilyView {
                        family: id.to_owned(),
                        client_id: e.client_id.clone(),
                        refreshes: 0,
                        reuses: Vec::new(),
                        tolerated_reuses: 0,
                        revoked_at: None,
                        lost_at: None,
                    });
                    families.len() - 1
                }
            };
            let family = &mut families[index];
            if e.endpoint != "token" {
                continue;
            }
            if e.succeeded() {
                family.lost_at = None;
            }
            if !e.is_grant("refresh_token") {
                continue;
            }
            let reuse = e.refresh_reuse == Some(true);
            match (e.succeeded(), reuse) {
                (true, false) => family.refreshes += 1,
                (true, true) => {
                    family.refreshes += 1;
                    family.tolerated_reuses += 1;
                }
                (false, _) => {
                    if reuse {
                        family.reuses.push(Reuse {
                            seq: e.seq,
                            first_redeemed: first_redeemer(&events[..i], e),
                            token: e.presented_refresh.clone().unwrap_or_default(),
                        });
                    }
                    let revoked =
                        reuse || e.error_detail.as_deref() == Some("refresh_token_revoked");
                    if revoked && family.revoked_at.is_none() {
                        family.revoked_at = Some(e.seq);
                    }
                    if e.status.is_some() {
                        family.lost_at = Some(e.seq);
                    }
                }
            }
        }
        Self { families }
    }

    /// Families revoked during the run.
    pub(crate) fn revoked(&self) -> usize {
        self.families
            .iter()
            .filter(|f| f.revoked_at.is_some())
            .count()
    }

    /// Families whose holder can no longer renew (the last refresh was refused).
    pub(crate) fn lost(&self) -> usize {
        self.families.iter().filter(|f| f.lost_at.is_some()).count()
    }

    /// Every refused reuse, in log order.
    pub(crate) fn reuses(&self) -> Vec<&Reuse> {
        let mut all: Vec<&Reuse> = self.families.iter().flat_map(|f| &f.reuses).collect();
        all.sort_by_key(|r| r.seq);
        all
    }

    /// The sequence numbers a report should show: reuses, their first redemptions,
    /// revocations and losses.
    pub(crate) fn about(&self) -> Vec<u64> {
        let mut seqs: Vec<u64> = Vec::new();
        for f in &self.families {
            for r in &f.reuses {
                seqs.push(r.seq);
                seqs.extend(r.first_redeemed);
            }
            seqs.extend(f.revoked_at);
            seqs.extend(f.lost_at);
        }
        seqs.sort_unstable();
        seqs.dedup();
        seqs
    }

    /// One sentence: how many families, refreshes, reuses, revocations and lost sessions,
    /// naming the first reuse.
    pub(crate) fn describe(&self) -> String {
        let refreshes: usize = self.families.iter().map(|f| f.refreshes).sum();
        let reuses = self.reuses();
        let mut out = format!(
            "{} famil{} (one per login), {refreshes} successful refresh{}, {} refused reuse{} of a refresh token, {} famil{} revoked, {} session{} lost",
            self.families.len(),
            if self.families.len() == 1 { "y" } else { "ies" },
            if refreshes == 1 { "" } else { "es" },
            reuses.len(),
            if reuses.len() == 1 { "" } else { "s" },
            self.revoked(),
            if self.revoked() == 1 { "y" } else { "ies" },
            self.lost(),
            if self.lost() == 1 { "" } else { "s" },
        );
        if let Some(first) = reuses.first() {
            let family = self
                .families
                .iter()
                .find(|f| f.reuses.contains(first))
                .map(|f| f.family.as_str())
                .unwrap_or("?");
            out.push_str(&format!(
                "; first: event #{} presented refresh token {} of family {family}",
                first.seq, first.token
            ));
            match first.first_redeemed {
                Some(seq) => out.push_str(&format!(
                    ", which event #{seq} had already redeemed — two holders of one family (processes sharing a credentials file) each refreshed"
                )),
                None => out.push_str(", already redeemed before the log starts"),
            }
        }
        out
    }
}

/// The earlier successful refresh that presented the same refresh token as `e`.
fn first_redeemer(earlier: &[ObservedEvent], e: &ObservedEvent) -> Option<u64> {
    let token = e.presented_refresh.as_deref()?;
    earlier
        .iter()
        .find(|p| {
            p.is_grant("refresh_token")
                && p.succeeded()
                && p.presented_refresh.as_deref() == Some(token)
        })
        .map(|p| p.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token-endpoint event of `family`.
    fn token(seq: u64, grant: &str, family: &str, status: u16) -> ObservedEvent {
        ObservedEvent {
            seq,
            endpoint: "token".to_owned(),
            method: "POST".to_owned(),
            path: "/oauth/token".to_owned(),
            status: Some(status),
            client_id: Some("codex".to_owned()),
            grant_type: Some(grant.to_owned()),
            family: Some(family.to_owned()),
            ..ObservedEvent::default()
        }
    }

    fn login(seq: u64, family: &str, issued: &str) -> ObservedEvent {
        ObservedEvent {
            issued_refresh: Some(issued.to_owned()),
            ..token(seq, "device_code", family, 200)
        }
    }

    fn refresh(seq: u64, family: &str, presented: &str, issued: &str) -> ObservedEvent {
        ObservedEvent {
            presented_refresh: Some(presented.to_owned()),
            issued_refresh: Some(issued.to_owned()),
            refresh_reuse: Some(false),
            ..token(seq, "refresh_token", family, 200)
        }
    }

    fn refused(seq: u64, family: &str, presented: &str, detail: &str) -> ObservedEvent {
        ObservedEvent {
            presented_refresh: Some(presented.to_owned()),
            refresh_reuse: Some(detail == "refresh_token_reused"),
            error: Some("invalid_grant".to_owned()),
            error_detail: Some(detail.to_owned()),
            ..token(seq, "refresh_token", family, 401)
        }
    }

    #[test]
    fn three_processes_on_one_credentials_file_reuse_one_family_and_lose_it() {
        // One login (family F, R0); process A refreshes R0 → R1; processes B and C, which
        // read the file before A wrote it, present R0 again.
        let events = vec![
            login(1, "F", "r0"),
            refresh(2, "F", "r0", "r1"),
            refused(3, "F", "r0", "refresh_token_reused"),
            refused(4, "F", "r0", "refresh_token_reused"),
            // A's next refresh: the family is revoked.
            refused(5, "F", "r1", "refresh_token_revoked"),
        ];
        let fleet = FleetView::of(&events);
        assert_eq!(fleet.families.len(), 1);
        let f = &fleet.families[0];
        assert_eq!(f.refreshes, 1);
        assert_eq!(
            f.reuses.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(f.reuses[0].first_redeemed, Some(2));
        assert_eq!(f.revoked_at, Some(3));
        assert_eq!(f.lost_at, Some(5));
        assert_eq!((fleet.revoked(), fleet.lost()), (1, 1));
        let why = fleet.describe();
        assert!(why.contains("2 refused reuses"), "{why}");
        assert!(why.contains("event #3"), "{why}");
        assert!(why.contains("event #2 had already redeemed"), "{why}");
        assert_eq!(fleet.about(), vec![2, 3, 4, 5]);
    }

    #[test]
    fn processes_run_one_after_another_rotate_one_family_without_reuse() {
        let events = vec![
            login(1, "F", "r0"),
            refresh(2, "F", "r0", "r1"),
            refresh(3, "F", "r1", "r2"),
            refresh(4, "F", "r2", "r3"),
        ];
        let fleet = FleetView::of(&events);
        assert_eq!(fleet.families[0].refreshes, 3);
        assert!(fleet.reuses().is_empty());
        assert_eq!((fleet.revoked(), fleet.lost()), (0, 0));
        assert!(fleet.about().is_empty());
    }

    #[test]
    fn separate_logins_are_separate_families_and_one_loss_is_counted_once() {
        let events = vec![
            login(1, "A", "a0"),
            login(2, "B", "b0"),
            refresh(3, "A", "a0", "a1"),
            refused(4, "B", "b0", "refresh_token_expired"),
            refused(5, "B", "b0", "refresh_token_expired"),
        ];
        let fleet = FleetView::of(&events);
        assert_eq!(fleet.families.len(), 2);
        assert_eq!((fleet.revoked(), fleet.lost()), (0, 1));
        assert_eq!(fleet.families[1].lost_at, Some(5));
    }

    #[test]
    fn a_session_refused_once_and_then_renewed_is_not_lost_and_a_graced_reuse_is_tolerated() {
        let events = vec![
            login(1, "F", "r0"),
            refused(2, "F", "r0", "refresh_token_unknown"),
            refresh(3, "F", "r0", "r1"),
            ObservedEvent {
                refresh_reuse: Some(true),
                ..refresh(4, "F", "r0", "r1b")
            },
        ];
        let fleet = FleetView::of(&events);
        let f = &fleet.families[0];
        assert_eq!((f.lost_at, f.revoked_at), (None, None));
        assert_eq!((f.refreshes, f.tolerated_reuses), (2, 1));
        assert!(f.reuses.is_empty());
    }
}
