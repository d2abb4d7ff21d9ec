// rack-gateway web UI: live lists and detail pages (Server-Sent Events), expiry countdowns and
// relative times. Plain JavaScript, no dependencies; the pages work without it (reload to
// refresh), it only keeps them current.
"use strict";

(function () {
  function fmtLeft(ms) {
    if (ms <= 0) return "expired";
    var s = Math.floor(ms / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d > 0) return "in " + d + "d " + h + "h";
    if (h > 0) return "in " + h + "h " + m + "m";
    return "in " + m + "m " + (sec < 10 ? "0" : "") + sec + "s";
  }

  function fmtAgo(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return "just now";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (t) {
      var at = Date.parse(t.getAttribute("datetime"));
      if (isNaN(at)) return;
      t.textContent = fmtLeft(at - now);
      t.title = t.getAttribute("datetime");
      t.classList.toggle("soon", at - now < 5 * 60 * 1000);
    });
    document.querySelectorAll("time[data-relative]").forEach(function (t) {
      var at = Date.parse(t.getAttribute("datetime"));
      if (isNaN(at)) return;
      t.textContent = fmtAgo(now - at);
      t.title = t.getAttribute("datetime");
    });
  }

  // Follows an event stream and calls refresh() (at most one fetch at a time) on each event.
  function follow(url, refresh, stateEl) {
    var busy = false, again = false;
    function run() {
      if (busy) { again = true; return; }
      busy = true;
      refresh().finally(function () {
        busy = false;
        if (again) { again = false; run(); }
      });
    }
    var es = new EventSource(url);
    es.addEventListener("open", function () { if (stateEl) stateEl.textContent = "live"; });
    es.addEventListener("error", function () { if (stateEl) stateEl.textContent = "reconnecting…"; });
    es.addEventListener("changed", run);
    es.addEventListener("deploy_approval_request", run);
    return es;
  }

  function fetchHtml(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        // Sent to sign-in or MFA (the session ended): show that page instead of splicing it in.
        if (r.redirected) { window.location.reload(); throw new Error("redirected"); }
        if (!r.ok) throw new Error(r.status);
        return r.text();
      });
  }

  function liveList() {
    var body = document.getElementById("request-rows");
    if (!body) return;
    var stateEl = document.querySelector("[data-live-state]");
    follow(body.dataset.eventsUrl, function () {
      return fetchHtml(body.dataset.rowsUrl).then(function (html) {
        // Same-origin fragment rendered (and escaped) by the gateway.
        body.innerHTML = html;
        tick();
      }).catch(function () {});
    }, stateEl);
  }

  function liveDetail() {
    var box = document.getElementById("live");
    if (!box) return;
    var es = follow(box.dataset.eventsUrl, function () {
      return fetchHtml(box.dataset.liveUrl).then(function (html) {
        // Same-origin fragment rendered (and escaped) by the gateway: swap each live part.
        var tpl = document.createElement("template");
        tpl.innerHTML = html;
        tpl.content.querySelectorAll("[data-live-part]").forEach(function (part) {
          var cur = document.getElementById(part.id);
          if (cur) cur.replaceWith(part);
        });
        var facts = document.getElementById("live-facts");
        var status = facts ? facts.dataset.status : "";
        var decide = document.getElementById("decide");
        // A decided request cannot be approved any more; the server refuses it anyway.
        if (decide && status !== "pending" && status !== "approved") decide.hidden = true;
        var approve = document.getElementById("approve-form");
        if (approve && status !== "pending") approve.hidden = true;
        if (status === "rejected" || status === "expired" || status === "deployed") es.close();
        tick();
      }).catch(function () {});
    }, null);
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    liveList();
    liveDetail();
  });
})();
