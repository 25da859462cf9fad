/* "Use my current location" fills the home's latitude and longitude from the browser, where it can tell. */
(function () {
  var here = document.getElementById("here");
  if (!here) { return; }
  here.addEventListener("click", function () {
    if (!navigator.geolocation) { return; }
    navigator.geolocation.getCurrentPosition(function (p) {
      document.getElementById("f-lat").value = p.coords.latitude.toFixed(6);
      document.getElementById("f-lon").value = p.coords.longitude.toFixed(6);
    });
  });
})();
