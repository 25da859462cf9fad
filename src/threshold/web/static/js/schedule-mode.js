/* Show only the chosen kind of schedule; without this script both stay visible and the server reads the chosen one. */
(function () {
  var form = document.querySelector("form.gform");
  if (!form) { return; }
  function show() {
    var mode = form.querySelector('input[name="mode"]:checked');
    form.querySelectorAll("fieldset[data-mode]").forEach(function (set) {
      set.hidden = mode !== null && set.dataset.mode !== mode.value;
    });
  }
  form.addEventListener("change", show);
  show();
})();
