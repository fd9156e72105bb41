// fauxauth run report: draw each scenario's timeline with FauxauthTimeline (the dashboard's
// timeline.js, inlined before this script) from the events embedded in its data-events.
"use strict";

for (const box of document.querySelectorAll(".timeline[data-events]")) {
  let events = [];
  try {
    events = JSON.parse(box.dataset.events);
  } catch (e) {
    box.querySelector(".timeline-error").hidden = false;
    continue;
  }
  FauxauthTimeline.render({
    events,
    now: Number(box.dataset.end),
    families: box.querySelector(".families"),
    axis: box.querySelector(".axis"),
    empty: box.querySelector(".timeline-empty"),
    nowLabel: "end",
    origin: Number(box.dataset.start),
    highlight: (box.dataset.highlight || "").split(" ").filter(Boolean).map(Number),
  });
}
