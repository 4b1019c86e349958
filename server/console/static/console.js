// The console's one script. It shows every <time datetime> in the reader's own time zone (the
// page's text, in UTC, stays when this does not run), and keeps the parts of a page marked
// data-live current by reading the page again every 10 seconds while it is shown.
"use strict";

function localise(root) {
  var fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  root.querySelectorAll("time[datetime]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d) && !el.title) {
      el.title = el.textContent;
      el.textContent = fmt.format(d);
    }
  });
}

function refresh() {
  if (document.hidden) {
    return;
  }
  fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
    .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
    .then(function (html) {
      var next = new DOMParser().parseFromString(html, "text/html");
      document.querySelectorAll("[data-live][id]").forEach(function (el) {
        var fresh = next.getElementById(el.id);
        if (fresh && fresh.innerHTML !== el.innerHTML) {
          el.innerHTML = fresh.innerHTML;
          localise(el);
        }
      });
    })
    .catch(function () {});
}

document.addEventListener("DOMContentLoaded", function () {
  localise(document);
  if (document.querySelector("[data-live][id]")) {
    setInterval(refresh, 10000);
  }
});
