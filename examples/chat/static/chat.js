// The chat page: plain JavaScript, no build step, no library.
// Protocol (examples/chat/app.py): the page sends each message as a text frame; the server
// sends JSON events: welcome, join, here, leave, message.
"use strict";

const CLOSE_MEANINGS = {
  1000: "normal closure",
  1001: "going away: the server is shutting down, or you were idle too long",
  1006: "the connection was lost without a close frame",
  1008: "policy violation: too many messages too fast, or this page's origin is not allowed",
  1009: "message too big",
  1011: "the server hit an error",
  1012: "the server is restarting",
  4400: "bad request",
};

const $ = (id) => document.getElementById(id);
let socket = null;
let myId = null;
let leaving = false;
const members = new Map(); // id -> name

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

function showMembers() {
  const list = $("members");
  list.replaceChildren();
  const sorted = [...members.entries()].sort((a, b) => a[1].localeCompare(b[1]));
  for (const [id, name] of sorted) {
    const item = document.createElement("li");
    item.textContent = id === myId ? name + " (you)" : name;
    item.dataset.id = id;
    list.appendChild(item);
  }
}

function onEvent(event) {
  switch (event.type) {
    case "welcome":
      myId = event.id;
      members.set(event.id, event.name);
      $("room-name").textContent = event.room;
      setStatus("Connected to room " + event.room + " as " + event.name + ".", "open");
      break;
    case "join":
      if (event.id !== myId) addLine([[event.name + " joined", "notice"]]);
      members.set(event.id, event.name);
      break;
    case "here":
      members.set(event.id, event.name);
      break;
    case "leave":
      members.delete(event.id);
      addLine([[event.name + " left", "notice"]]);
      break;
    case "message":
      addLine([[event.name, "who"], [event.text, "text"]], event.id === myId ? "mine" : "");
      return;
  }
  showMembers();
}

function describeClose(close) {
  const meaning = CLOSE_MEANINGS[close.code] || "";
  const reason = close.reason ? ' "' + close.reason + '"' : "";
  return "Disconnected: the server closed the connection with code " + close.code + reason +
    (meaning ? " (" + meaning + ")." : ".");
}

function join(name, room) {
  leaving = false;
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const query = new URLSearchParams({ name, room });
  socket = new WebSocket(scheme + location.host + "/ws?" + query);
  setStatus("Connecting...", "idle");
  members.clear();
  $("log").replaceChildren();
  showMembers();
  $("join-form").hidden = true;
  $("chat").hidden = false;

  socket.addEventListener("message", (message) => onEvent(JSON.parse(message.data)));
  socket.addEventListener("close", (close) => {
    socket = null;
    $("send").disabled = true;
    $("text").disabled = true;
    if (leaving) return;
    const text = close.wasClean || close.code !== 1006
      ? describeClose(close)
      : "Disconnected: the connection was lost (code 1006).";
    setStatus(text, "closed");
    addLine([[text, "notice"]], "closed");
    members.clear();
    showMembers();
  });
  $("send").disabled = false;
  $("text").disabled = false;
  $("text").focus();
}

$("join-form").addEventListener("submit", (submit) => {
  submit.preventDefault();
  join($("name").value.trim(), $("room").value.trim());
});

$("send-form").addEventListener("submit", (submit) => {
  submit.preventDefault();
  const text = $("text").value.trim();
  if (socket && socket.readyState === WebSocket.OPEN && text) {
    socket.send(text);
    $("text").value = "";
  }
});

$("leave").addEventListener("click", () => {
  leaving = true;
  if (socket) socket.close(1000, "left the room");
  $("chat").hidden = true;
  $("join-form").hidden = false;
  setStatus("Not connected.", "idle");
});
