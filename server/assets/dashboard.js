// fauxauth dashboard: plain modern JavaScript, no dependencies, nothing from the network but
// this server's control API ({prefix}/clock, /faults, /devices, /events/stream). The timeline
// is drawn by timeline.js (FauxauthTimeline), served in front of this file.
// Everything drawn is DOM with text labels and stable ids / data attributes.
"use strict";

(() => {
  const app = document.getElementById("app");
  const prefix = app.dataset.prefix;
  const $ = (id) => document.getElementById(id);
  const { el, iso } = FauxauthTimeline;

  const model = {
    events: [], // oldest first, unique by seq
    lastSeq: 0,
    clock: null, // {now_unix, scale, frozen, kind}, with fetchedAt (performance.now())
    faults: [],
    devices: [],
  };

  // ---------- control API ----------
  async function api(method, path, body) {
    const init = { method, headers: {}, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const response = await fetch(prefix + path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const message = (data && (data.message || data.error)) || response.statusText;
      throw new Error(`${response.status}: ${message}`);
    }
    return data;
  }

  function showError(id, error) {
    const el = $(id);
    if (!error) {
      el.hidden = true;
      el.textContent = "";
      return;
    }
    el.hidden = false;
    el.textContent = String(error.message || error);
  }

  async function act(errorId, fn) {
    try {
      await fn();
      showError(errorId, null);
    } catch (e) {
      showError(errorId, e);
    }
    await refreshSide();
  }

  // ---------- clock ----------
  function nowMs() {
    const c = model.clock;
    if (!c) return Date.now();
    const base = c.now_unix * 1000;
    if (c.frozen) return base;
    return base + (performance.now() - c.fetchedAt) * c.scale;
  }

  function setClock(c) {
    if (c && typeof c.now_unix === "number") {
      model.clock = { ...c, fetchedAt: performance.now() };
    }
  }


  function renderClock() {
    const c = model.clock;
    if (!c) return;
    const now = nowMs();
    $("clock-now").textContent = iso(now);
    $("clock-now").dataset.nowMs = String(Math.floor(now));
    $("clock-scale").textContent = `${c.scale}×`;
    const frozen = $("clock-frozen");
    frozen.dataset.frozen = String(!!c.frozen);
    frozen.textContent = c.kind === "virtual" ? (c.frozen ? "frozen" : "running") : "system clock";
  }

  document.querySelectorAll("[data-advance]").forEach((button) => {
    button.addEventListener("click", () =>
      act("clock-error", async () => setClock(await api("POST", "/clock/advance", { by: button.dataset.advance }))),
    );
  });
  $("advance-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const by = $("advance-by").value.trim();
    act("clock-error", async () => setClock(await api("POST", "/clock/advance", { by: /^\d+$/.test(by) ? Number(by) : by })));
  });
  $("scale-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act("clock-error", async () => setClock(await api("POST", "/clock/scale", { scale: Number($("scale-input").value) })));
  });
  $("freeze").addEventListener("click", () => act("clock-error", async () => setClock(await api("POST", "/clock/freeze"))));
  $("unfreeze").addEventListener("click", () => act("clock-error", async () => setClock(await api("POST", "/clock/unfreeze"))));

  // ---------- devices ----------
  function renderDevices() {
    const body = $("devices-table").querySelector("tbody");
    const pending = model.devices.filter((d) => d.status === "pending");
    body.replaceChildren(
      ...pending.map((d) => {
        const tr = el("tr", { "data-user-code": d.user_code, "data-client": d.client_id });
        tr.append(
          el("td", {}, el("code", {}, d.user_code)),
          el("td", {}, d.client_id),
          el("td", {}, d.scope || ""),
          el("td", {}, d.kind),
          el("td", {}, iso(d.expires_at * 1000)),
        );
        const approve = el("button", { type: "button", "data-action": "approve", "data-user-code": d.user_code, "aria-label": `approve ${d.user_code}` }, "approve");
        const deny = el("button", { type: "button", "data-action": "deny", "data-user-code": d.user_code, "aria-label": `deny ${d.user_code}` }, "deny");
        approve.addEventListener("click", () => act("clock-error", () => api("POST", "/devices/approve", { user_code: d.user_code })));
        deny.addEventListener("click", () => act("clock-error", () => api("POST", "/devices/deny", { user_code: d.user_code })));
        tr.append(el("td", {}, approve, " ", deny));
        return tr;
      }),
    );
    $("devices-empty").hidden = pending.length > 0;
  }

  // ---------- faults ----------
  function renderFaults() {
    const body = $("faults-table").querySelector("tbody");
    body.replaceChildren(
      ...model.faults.map((f) => {
        const remove = el("button", { type: "button", "data-action": "remove-fault", "data-fault": f.id, "aria-label": `remove fault ${f.id}` }, "remove");
        remove.addEventListener("click", () => act("fault-error", () => api("DELETE", `/faults/${f.id}`)));
        return el(
          "tr",
          { "data-fault": f.id },
          el("td", {}, String(f.id)),
          el("td", {}, el("code", {}, JSON.stringify(f.rule))),
          el("td", {}, String(f.matched)),
          el("td", {}, String(f.fired)),
          el("td", {}, remove),
        );
      }),
    );
    $("faults-empty").hidden = model.faults.length > 0;
  }
  $("fault-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act("fault-error", () => api("POST", "/faults", $("fault-rule").value));
  });

  // ---------- side data (clock, devices, faults) ----------
  async function refreshSide() {
    const [clock, devices, faults] = await Promise.allSettled([api("GET", "/clock"), api("GET", "/devices"), api("GET", "/faults")]);
    if (clock.status === "fulfilled") setClock(clock.value);
    if (devices.status === "fulfilled") model.devices = devices.value.devices || [];
    if (faults.status === "fulfilled") model.faults = faults.value.faults || [];
    const refused = [clock, devices, faults].find((r) => r.status === "rejected");
    showError("clock-error", refused ? refused.reason : null);
    render();
  }

  // ---------- timeline (drawn by timeline.js, shared with the run report) ----------
  function renderTimeline() {
    FauxauthTimeline.render({ events: model.events, now: nowMs(), families: $("families"), axis: $("axis"), empty: $("timeline-empty") });
  }

  // ---------- event log ----------
  function fillSelect(id, values) {
    const select = $(id);
    const have = new Set([...select.options].map((o) => o.value));
    const added = values.filter((v) => !have.has(v));
    if (added.length === 0) return;
    for (const v of added) select.append(el("option", { value: v }, v));
    // Firefox keeps a select as wide as its options were when it was first laid out; taking
    // it out of the layout and back makes it measure the new ones (Chromium does by itself).
    select.style.display = "none";
    void select.offsetWidth;
    select.style.display = "";
  }

  function details(e) {
    const parts = [];
    const add = (k, v) => v !== undefined && v !== null && parts.push(`${k}=${v}`);
    add("family", e.family);
    add("sub", e.sub);
    add("issued", e.issued_access);
    add("refresh", e.issued_refresh);
    add("presented", e.presented_access || e.presented_refresh);
    if (e.access_exp) add("exp", iso(e.access_exp * 1000));
    add("expired", e.token_expired);
    add("reuse", e.refresh_reuse);
    add("why", e.error_detail);
    add("scope", e.scope);
    if (e.fault) add("fault", `#${e.fault.rule} ${e.fault.action}`);
    return parts.join(" ");
  }

  function renderEvents() {
    fillSelect("filter-client", [...new Set(model.events.map((e) => e.client_id).filter(Boolean))].sort());
    fillSelect("filter-endpoint", [...new Set(model.events.map((e) => e.endpoint))].sort());
    const client = $("filter-client").value;
    const endpoint = $("filter-endpoint").value;
    const status = $("filter-status").value;
    const text = $("filter-text").value.trim().toLowerCase();
    const shown = model.events.filter((e) => {
      if (client && e.client_id !== client) return false;
      if (endpoint && e.endpoint !== endpoint) return false;
      const failed = e.status === undefined || e.status >= 400;
      if (status === "ok" && failed) return false;
      if (status === "err" && !failed) return false;
      if (text && !JSON.stringify(e).toLowerCase().includes(text)) return false;
      return true;
    });
    const rows = shown.slice(-500).reverse();
    $("events-count").textContent = `${shown.length} of ${model.events.length} events${shown.length > rows.length ? ` (newest ${rows.length} shown)` : ""}`;
    $("events-table").querySelector("tbody").replaceChildren(
      ...rows.map((e) =>
        el(
          "tr",
          { "data-seq": String(e.seq), "data-endpoint": e.endpoint, "data-status": String(e.status ?? ""), class: e.status === undefined || e.status >= 400 ? "failed" : "" },
          el("td", {}, String(e.seq)),
          el("td", {}, iso(e.virtual_time_ms)),
          el("td", {}, e.endpoint),
          el("td", {}, `${e.method} ${e.path}`),
          el("td", {}, `${e.status ?? "—"}${e.error ? ` ${e.error}` : ""}`),
          el("td", {}, e.client_id || ""),
          el("td", {}, e.grant_type || ""),
          el("td", { class: "details" }, details(e)),
        ),
      ),
    );
  }
  for (const id of ["filter-client", "filter-endpoint", "filter-status", "filter-text"]) {
    $(id).addEventListener("input", () => render());
  }

  // ---------- rendering ----------
  let pending = false;
  function render() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      renderClock();
      renderDevices();
      renderFaults();
      renderTimeline();
      renderEvents();
    });
  }

  // ---------- live ----------
  function setLive(state, text) {
    const live = $("live");
    live.dataset.state = state;
    live.textContent = text;
  }

  function connect() {
    const source = new EventSource(`${prefix}/events/stream?since=${model.lastSeq}`);
    source.onopen = () => setLive("live", "live");
    source.onerror = () => setLive("reconnecting", "reconnecting…");
    let sideSoon = null;
    source.onmessage = (message) => {
      let e;
      try {
        e = JSON.parse(message.data);
      } catch (_) {
        return;
      }
      if (typeof e.seq !== "number" || e.seq <= model.lastSeq) return;
      model.lastSeq = e.seq;
      model.events.push(e);
      if (model.events.length > 10000) model.events.splice(0, model.events.length - 10000);
      if (e.endpoint === "device" || e.endpoint === "token" || e.fault) {
        clearTimeout(sideSoon);
        sideSoon = setTimeout(refreshSide, 100);
      }
      render();
    };
  }

  refreshSide().then(connect);
  setInterval(refreshSide, 2000);
  setInterval(() => {
    renderClock();
  }, 500);
})();
