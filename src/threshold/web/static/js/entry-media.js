// The entry page's live view is one long MJPEG request. When the stream brings the sealed clip, the clip takes
// the live view's place; the picture's request is ended here too, rather than left to the server's end of the
// recording or to the browser's handling of a detached image.
document.addEventListener("htmx:sseBeforeMessage", (event) => {
  const media = event.target;
  if (!(media instanceof Element) || media.id !== "media" || !event.detail || event.detail.type !== "clip") {
    return;
  }
  for (const live of media.querySelectorAll("img[data-live]")) {
    live.removeAttribute("src");
  }
});
