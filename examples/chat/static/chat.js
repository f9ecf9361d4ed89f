// The chat page: plain JavaScript, no build step, no library.
// Protocol (examples/chat/app.py): the page sends each message as a text frame; the server
// sends JSON events: welcome, presence (the room's whole member list, and who joined or left),
// message, notice.
"use strict";

// Exactly the close codes this page can receive from the server (app.py's CLOSE_CODES).
// A handshake the server refuses (e.g. this page's origin is not allowed) never reaches the
// page as a close code of its own: the browser reports 1006 before the socket opened.
const CLOSE_MEANINGS = {
  1001: "going away: the server is shutting down, or you were idle too long",
  1006: "the connection was lost without a close frame",
  1008: "policy violation: too many messages too fast",
  1009: "message too big",
  1011: "the server hit an error, or its chat backend is unavailable",
  1012: "the server is restarting",
  4400: "bad request",
};
const DEFAULT_MAX_TEXT = 1000; // until the welcome says otherwise

const $ = (id) => document.getElementById(id);
let socket = null; // the current socket; events of any older one are ignored
let myId = null;
let maxText = DEFAULT_MAX_TEXT;

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = "status " + kind;
}

function addLine(parts, className) {
  const item = document.createElement("li");
  if (className) item.className = className;
  for (const [text, partClass] of parts) {
    const span = document.createElement("span");
    span.textContent = text; // never innerHTML: names and messages are user input
    if (partClass) span.className = partClass;
    item.appendChild(span);
  }
  const log = $("log");
  log.appendChild(item);
  log.scrollTop = log.scrollHeight;
}

function showMembers(members) {
  const list = $("members");
  list.replaceChildren();
  for (const member of members) {
    const item = document.createElement("li");
    item.textContent = member.id === myId ? member.name + " (you)" : member.name;
    item.dataset.id = member.id;
    list.appendChild(item);
  }
}

function onEvent(event) {
  switch (event.type) {
    case "welcome":
      myId = event.id;
      maxText = event.max_text;
      checkLength();
      $("room-name").textContent = event.room;
      setStatus("Connected to room " + event.room + " as " + event.name +
        " (server process " + event.worker + ").", "open");
      $("chat").dataset.worker = event.worker;
      break;
    case "presence":
      for (const member of event.joined) {
        if (member.id !== myId) addLine([[member.name + " joined", "notice"]]);
      }
      for (const member of event.left) addLine([[member.name + " left", "notice"]]);
      showMembers(event.members);
      break;
    case "message":
      addLine([[event.name, "who"], [event.text, "text"]], event.id === myId ? "mine" : "");
      break;
    case "notice":
      addLine([[event.text, "notice"]]);
      break;
  }
}

function describeClose(close, opened) {
  if (!opened) {
    return "Could not connect: the server refused the websocket or cannot be reached " +
      "(code " + close.code + "). The server's log says why.";
  }
  if (close.code === 1006) return "Disconnected: the connection was lost (code 1006).";
  const meaning = CLOSE_MEANINGS[close.code] || "";
  const reason = close.reason ? ' "' + close.reason + '"' : "";
  return "Disconnected: the server closed the connection with code " + close.code + reason +
    (meaning ? " (" + meaning + ")." : ".");
}

function setConnected(connected) {
  $("join-form").hidden = connected;
  $("send").disabled = !connected;
  $("text").disabled = !connected;
  $("leave").disabled = !connected;
  if (connected) checkLength();
}

function leave(reason) {
  const old = socket;
  socket = null; // from now on, the old socket's events are ignored
  if (old) old.close(1000, reason);
}

function join(name, room) {
  leave("joined again"); // never two sockets: the old one closes first
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const query = new URLSearchParams({ name, room });
  const ws = new WebSocket(scheme + location.host + "/ws?" + query);
  socket = ws;
  let opened = false;
  myId = null;
  setStatus("Connecting...", "idle");
  $("log").replaceChildren();
  showMembers([]);
  $("chat").hidden = false;
  setConnected(true);

  ws.addEventListener("open", () => { opened = true; });
  ws.addEventListener("message", (message) => {
    if (ws === socket) onEvent(JSON.parse(message.data));
  });
  ws.addEventListener("close", (close) => {
    if (ws !== socket) return; // closed by leave() or a newer join: nothing to report
    socket = null;
    setConnected(false);
    const text = describeClose(close, opened);
    setStatus(text, "closed");
    addLine([[text, "notice"]], "closed");
    showMembers([]);
  });
  $("text").focus();
}

// Long input is refused here, visibly, before anything is sent (the server would close the
// socket with 1009): no maxlength on the field, which would cut a paste without a word.
function checkLength() {
  const length = [...$("text").value.trim()].length; // code points, as the server counts
  const tooLong = length > maxText;
  const warning = $("too-long");
  warning.hidden = !tooLong;
  warning.textContent = tooLong
    ? "Too long: " + length + " characters, at most " + maxText + ". Shorten it to send it."
    : "";
  $("text").setAttribute("aria-invalid", tooLong ? "true" : "false");
  $("send").disabled = tooLong || !(socket && socket.readyState <= WebSocket.OPEN);
  return !tooLong;
}

$("text").addEventListener("input", checkLength);

$("join-form").addEventListener("submit", (submit) => {
  submit.preventDefault();
  join($("name").value.trim(), $("room").value.trim());
});

$("send-form").addEventListener("submit", (submit) => {
  submit.preventDefault();
  const text = $("text").value.trim();
  if (!checkLength()) return;
  if (socket && socket.readyState === WebSocket.OPEN && text) {
    socket.send(text);
    $("text").value = "";
    checkLength();
  }
});

$("leave").addEventListener("click", () => {
  leave("left the room");
  $("chat").hidden = true;
  setConnected(false);
  setStatus("Not connected.", "idle");
});
