/* The driver's "ask for entry" form: the phone's location goes with it, and the barcode can be scanned. */
(function () {
  // Where the phone is: the door opens only for a driver at the home. Without it the server says what to do.
  var form = document.getElementById("ask"), out = document.getElementById("where");
  if (!form || !out) { return; }
  var lat = form.elements.lat, lon = form.elements.lon, tried = false, pinned = false;
  function locate(then) {
    if (!navigator.geolocation) { out.textContent = "This browser cannot share your location."; return then(); }
    out.textContent = "Finding your location…";
    navigator.geolocation.getCurrentPosition(function (p) {
      // The demo location, once chosen, wins over the browser's (which is nowhere near the simulated home).
      if (!pinned) { lat.value = p.coords.latitude; lon.value = p.coords.longitude; out.textContent = "Location found."; }
      then();
    }, function () {
      if (!pinned) { out.textContent = "Location unavailable: allow location for this site."; }
      then();
    }, {enableHighAccuracy: true, timeout: 8000, maximumAge: 30000});
  }
  // Only the demo renders this button: it puts the phone at the stop's home.
  var demo = document.getElementById("demo-location");
  if (demo) {
    demo.addEventListener("click", function () {
      pinned = true; lat.value = demo.dataset.lat; lon.value = demo.dataset.lon;
      out.textContent = "Using the demo location: you are at the home.";
    });
  }
  locate(function () {});
  form.addEventListener("submit", function (e) {
    if (lat.value || tried) { return; }
    e.preventDefault(); tried = true;
    locate(function () { form.requestSubmit(); });
  });
  // Scanning with the camera only where the browser can read barcodes itself; typing always works.
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) { return; }
  var scan = document.getElementById("scan"), video = document.getElementById("scanner");
  scan.hidden = false;
  scan.addEventListener("click", async function () {
    try {
      var detector = new BarcodeDetector();
      var stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}});
      video.srcObject = stream; video.hidden = false; await video.play();
      var stop = function () { stream.getTracks().forEach(function (t) { t.stop(); }); video.hidden = true; };
      var look = async function () {
        var found = await detector.detect(video).catch(function () { return []; });
        if (found.length) { form.elements.barcode.value = found[0].rawValue; stop(); form.elements.barcode.focus(); }
        else if (!video.hidden) { setTimeout(look, 200); }
      };
      look();
    } catch (err) { out.textContent = "The camera is not available: type the barcode instead."; }
  });
})();
