/* The guest link's copy button needs the clipboard API; without it the link stays selectable in its field. */
(function () {
  var button = document.getElementById("copy-link"), field = document.getElementById("guest-link");
  if (!button || !field || !navigator.clipboard) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(function () {
      document.getElementById("copied").textContent = "Copied.";
    }, function () { field.select(); });
  });
})();
