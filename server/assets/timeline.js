// fauxauth timeline: a token's life on the virtual clock, drawn from the server's event log.
// Shared by the live dashboard and the harness's HTML run report (exported by the server crate
// as `fauxauth_server::assets::TIMELINE_JS`). Plain modern JavaScript, no dependencies; it
// draws DOM with text labels and data attributes (no canvas), so it is accessible and testable.
//
// Usage: FauxauthTimeline.render({ events, now, families, axis, empty, nowLabel, highlight })
//   events     the event log (objects as the event stream and the JSON report carry them), oldest first
//   now        virtual "now" in Unix milliseconds (a red line; bars ending before it are expired)
//   families   the element that receives one <article class="family"> per client and grant
//   axis       the element that receives the time axis
//   empty      optional element shown when there is nothing to draw
//   nowLabel   optional label of the "now" line (default "now")
//   highlight  optional array of event sequence numbers to emphasise (class "highlight")
//   origin     optional virtual time (Unix ms) the axis counts from: ticks read "+1h05m"
//              instead of the time of day
"use strict";

const FauxauthTimeline = (() => {
  const iso = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19) + "Z";
  const hms = (ms) => new Date(ms).toISOString().slice(11, 19);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== "") node.setAttribute(k, String(v));
    }
    node.append(...children.filter((c) => c !== undefined && c !== null));
    return node;
  }

  // What an API call's answer means for the client.
  function apiOutcome(e) {
    if (e.status === undefined || e.status === null) return "no-answer";
    if (e.token_expired) return e.status === 200 ? "200-expired" : "401-expired";
    if (e.status >= 200 && e.status < 300) return "200";
    if (e.status === 401) return e.error_detail === "access_token_revoked" ? "401-revoked" : "401-invalid";
    if (e.status === 403) return "403-scope";
    return String(e.status);
  }
  const outcomeText = {
    "200": "200",
    "200-expired": "200 (expired, empty)",
    "401-expired": "401 expired",
    "401-revoked": "401 revoked",
    "401-invalid": "401 invalid token",
    "403-scope": "403 scope",
    "no-answer": "no answer",
  };

  // The events grouped per client and grant family: access tokens, marks, refresh chain.
  function families(events) {
    const groups = new Map();
    const group = (e) => {
      const client = e.client_id || "(unknown client)";
      const family = e.family || "(no grant)";
      const key = `${client}\u0000${family}`;
      if (!groups.has(key)) groups.set(key, { client, family, tokens: [], marks: [], chain: [] });
      return groups.get(key);
    };
    for (const e of events) {
      const t = e.virtual_time_ms;
      if (e.endpoint === "token") {
        const g = group(e);
        if (e.status === 200 && e.issued_access) {
          g.tokens.push({
            start: t,
            end: e.access_exp ? e.access_exp * 1000 : t,
            hash: e.issued_access,
            grant: e.grant_type || "",
            seq: e.seq,
          });
          if (e.issued_refresh) g.chain.push({ hash: e.issued_refresh, reused: false });
        }
        if (e.refresh_reuse) {
          g.marks.push({ t, kind: "reuse", text: "reuse detected", e });
          const link = g.chain.find((r) => r.hash === e.presented_refresh);
          if (link) link.reused = true;
        } else if (e.grant_type === "refresh_token") {
          const ok = e.status === 200;
          g.marks.push({ t, kind: ok ? "refresh" : "refresh-refused", text: ok ? "refresh" : `refresh refused${e.error_detail ? ` (${e.error_detail})` : ""}`, e });
        }
      } else if (e.endpoint === "api") {
        const outcome = apiOutcome(e);
        group(e).marks.push({ t, kind: "api", outcome, text: outcomeText[outcome] || outcome, e });
      } else if (e.endpoint === "revoke" && e.status === 200) {
        group(e).marks.push({ t, kind: "revoke", text: "revoked", e });
      } else if (e.endpoint === "device" && e.status === 200 && (e.path === "/oauth/device/code" || e.path.endsWith("/deviceauth/usercode"))) {
        group({ ...e, family: "(device login)" }).marks.push({ t, kind: "device", text: "device login started", e });
      }
    }
    return [...groups.values()].filter((g) => g.tokens.length || g.marks.length);
  }

  // A duration as the axis shows it: +45s, +12m30s, +1h05m, −1m20s.
  function offset(ms) {
    const sign = ms < 0 ? "−" : "+";
    const s = Math.round(Math.abs(ms) / 1000);
    const h = Math.floor(s / 3600);
    const m = Math.floor(s / 60) % 60;
    if (h) return `${sign}${h}h${String(m).padStart(2, "0")}m`;
    if (m) return `${sign}${m}m${String(s % 60).padStart(2, "0")}s`;
    return `${sign}${s}s`;
  }

  function render({ events, now, families: container, axis, empty, nowLabel = "now", highlight = [], origin }) {
    const groups = families(events);
    const hot = new Set(highlight.map(Number));
    // The access tokens that highlighted events presented are highlighted too (the bar that
    // ran out, beside the call that hit it).
    const hotTokens = new Set(events.filter((e) => hot.has(e.seq) && e.presented_access).map((e) => e.presented_access));
    let t0 = Infinity;
    let t1 = now;
    for (const g of groups) {
      for (const tok of g.tokens) {
        t0 = Math.min(t0, tok.start);
        t1 = Math.max(t1, tok.end);
      }
      for (const m of g.marks) {
        t0 = Math.min(t0, m.t);
        t1 = Math.max(t1, m.t);
      }
    }
    if (empty) empty.hidden = groups.length > 0;
    axis.hidden = groups.length === 0;
    if (!groups.length) {
      container.replaceChildren();
      axis.replaceChildren();
      return;
    }
    const span = Math.max(t1 - t0, 60_000);
    t0 -= span * 0.02;
    t1 = t0 + span * 1.06;
    const x = (t) => (((t - t0) / (t1 - t0)) * 100).toFixed(3) + "%";

    // The axis: five ticks of virtual time.
    const ticks = [];
    for (let i = 0; i <= 5; i++) {
      const t = t0 + ((t1 - t0) * i) / 5;
      ticks.push(el("span", { class: i === 5 ? "tick last" : "tick", style: `left:${x(t)}` }, origin === undefined ? hms(t) : offset(t - origin)));
    }
    ticks.push(el("span", { class: "tick now-tick", style: `left:${x(now)}` }, nowLabel));
    axis.replaceChildren(...ticks);

    container.replaceChildren(
      ...groups.map((g) => {
        const article = el("article", { class: "family", "data-client": g.client, "data-family": g.family, "aria-label": `client ${g.client}, grant ${g.family}` });
        const chain = g.chain.length
          ? el("p", { class: "chain", "data-chain": g.chain.map((r) => r.hash).join(" ") }, "refresh chain: ", ...g.chain.flatMap((r, i) => [i ? " → " : "", el("code", { class: r.reused ? "reused" : "" }, r.reused ? `${r.hash} (reused)` : r.hash)]))
          : el("p", { class: "chain muted" }, "no refresh token");
        article.append(el("h3", {}, g.client, " ", el("span", { class: "fam" }, g.family)), chain);

        const tokens = g.tokens.slice(-12);
        const lane = el("div", { class: "lane tokens", style: `height:${tokens.length * 20 + 4}px` });
        tokens.forEach((tok, i) => {
          const expired = tok.end <= now;
          const minutes = Math.round((tok.end - tok.start) / 60000);
          lane.append(
            el(
              "div",
              {
                class: "bar" + (expired ? " expired" : "") + (hot.has(tok.seq) || hotTokens.has(tok.hash) ? " highlight" : ""),
                "data-kind": "access",
                "data-token": tok.hash,
                "data-grant": tok.grant,
                "data-seq": String(tok.seq),
                "data-expired": String(expired),
                style: `left:${x(tok.start)};width:calc(${x(tok.end)} - ${x(tok.start)});top:${i * 20 + 2}px`,
                title: `#${tok.seq} access token ${tok.hash} (${tok.grant}) issued ${iso(tok.start)}, expires ${iso(tok.end)}`,
                "aria-label": `access token ${tok.hash}, ${tok.grant}, issued ${iso(tok.start)}, expires ${iso(tok.end)}${expired ? ", expired" : ""}`,
              },
              `${tok.hash} · ${tok.grant.replace(/^urn:.*:/, "")} · ${minutes}m${expired ? " · expired" : ""}`,
            ),
          );
        });
        lane.append(el("div", { class: "now-line", style: `left:${x(now)}`, "aria-hidden": "true" }));

        const marks = el("div", { class: "lane marks" });
        // Marks close in time go on separate rows, so that no label hides another.
        const rowEnds = [];
        for (const m of g.marks.slice(-200)) {
          const pos = ((m.t - t0) / (t1 - t0)) * 100;
          let row = rowEnds.findIndex((end) => pos - end > 9);
          if (row < 0) row = rowEnds.length < 12 ? rowEnds.length : rowEnds.indexOf(Math.min(...rowEnds));
          rowEnds[row] = pos;
          const attrs = {
            // Near the right edge the label goes to the left of its dot, so it stays inside.
            class: "mark" + (pos > 80 ? " flip" : "") + (hot.has(m.e.seq) ? " highlight" : ""),
            "data-kind": m.kind,
            "data-seq": String(m.e.seq),
            style: `left:${x(m.t)};top:${row * 22}px`,
            title: `#${m.e.seq} ${iso(m.t)} ${m.e.method} ${m.e.path} → ${m.e.status ?? "no answer"}`,
            "aria-label": `${m.text} at ${iso(m.t)}`,
          };
          if (m.outcome) attrs["data-outcome"] = m.outcome;
          marks.append(el("span", attrs, el("span", { class: "dot", "aria-hidden": "true" }), el("span", { class: "label" }, m.text)));
        }
        marks.style.height = `${(rowEnds.length || 1) * 22}px`;
        marks.append(el("div", { class: "now-line", style: `left:${x(now)}`, "aria-hidden": "true" }));
        article.append(lane, marks);
        return article;
      }),
    );
  }

  return { render, families, apiOutcome, el, iso, hms };
})();
