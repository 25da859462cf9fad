// Counts down to each [data-deadline] on the page (the time a waiting person has left). The list is swapped in
// by server-sent events, so every tick looks the elements up again; the server's words stay when this cannot run.
(function () {
  "use strict";

  function words(ms) {
    if (ms <= 0) {
      return "time is up";
    }
    var total = Math.ceil(ms / 1000);
    var minutes = Math.floor(total / 60);
    var seconds = total % 60;
    return minutes + ":" + (seconds < 10 ? "0" : "") + seconds + " left";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("data-deadline"));
      if (!isNaN(at)) {
        el.textContent = words(at - now);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
  document.addEventListener("htmx:sseMessage", tick);
  setInterval(tick, 1000);
})();
