// portcullis browser mode, without a framework: the access token is kept in memory only, the
// refresh token in an HttpOnly cookie the server sets and reads. A 401 from an API call
// triggers one refresh (the browser sends the cookie and its Origin) and one retry.
"use strict";

const demo = { access: null, user: null };
window.portcullisDemo = demo;

const $ = (id) => document.getElementById(id);

function log(text) {
  const item = document.createElement("li");
  item.textContent = text;
  $("log").appendChild(item);
}

function show(text) {
  $("output").textContent = text;
}

async function postJson(path, body) {
  return fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "Accept": "application/json" },
    body: JSON.stringify(body),
  });
}

// Trades the refresh cookie for a new access token (and a rotated cookie).
async function refresh() {
  const response = await postJson("/api/token/refresh/", {});
  if (!response.ok) {
    demo.access = null;
    log("refresh refused (" + response.status + ")");
    return false;
  }
  demo.access = (await response.json()).access;
  log("refreshed the access token");
  return true;
}

// An API call with the access token; on 401, one refresh and one retry.
async function api(method, path) {
  const call = () =>
    fetch(path, {
      method,
      credentials: "same-origin",
      headers: demo.access
        ? { "Authorization": "Bearer " + demo.access, "Accept": "application/json" }
        : { "Accept": "application/json" },
    });
  let response = await call();
  if (response.status === 401 && (await refresh())) {
    response = await call();
  }
  return response;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = $("username").value;
  const response = await postJson("/api/token/", {
    username,
    password: $("password").value,
  });
  const body = await response.json();
  if (!response.ok) {
    $("status").textContent = "Sign-in failed: " + (body.detail || response.status);
    return;
  }
  demo.access = body.access;
  demo.user = username;
  $("password").value = "";
  $("status").textContent = "Signed in as " + username + ".";
  log("signed in; the refresh token is in a cookie this page cannot read");
});

$("hello").addEventListener("click", async () => {
  const response = await api("GET", "/hello/");
  const body = await response.json();
  show(response.status + " " + (body.message || body.detail));
});

$("sessions").addEventListener("click", async () => {
  const response = await api("GET", "/api/sessions/");
  const list = $("session-list");
  list.textContent = "";
  if (!response.ok) {
    show(response.status + " " + (await response.json()).detail);
    return;
  }
  for (const session of await response.json()) {
    const item = document.createElement("li");
    const since = new Date(session.created * 1000).toISOString();
    item.textContent =
      (session.user_agent || "unknown device").slice(0, 40) + " from " + (session.ip || "?") +
      " since " + since + (session.current ? " (this device)" : "") + " ";
    const end = document.createElement("button");
    end.type = "button";
    end.textContent = "End";
    end.addEventListener("click", async () => {
      const ended = await api("DELETE", "/api/sessions/" + encodeURIComponent(session.id) + "/");
      log("ended a session (" + ended.status + ")");
      item.remove();
    });
    item.appendChild(end);
    list.appendChild(item);
  }
  show(response.status + " " + list.children.length + " session(s)");
});

$("logout").addEventListener("click", async () => {
  const response = await postJson("/api/token/blacklist/", {});
  demo.access = null;
  demo.user = null;
  $("session-list").textContent = "";
  $("status").textContent = "Signed out.";
  log("logged out (" + response.status + "): the cookie is cleared, the session ended");
});
