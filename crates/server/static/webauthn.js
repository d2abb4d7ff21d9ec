// Security keys in the web UI: register a key, verify a session, and approve one deploy
// request with a key whose challenge the gateway bound to that request. Talks to the JSON API
// with the session's CSRF token; shown only when the browser supports WebAuthn.
"use strict";

(function () {
  function csrf() { return document.body.dataset.csrf || ""; }

  function b64uToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function bufToB64u(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error((j.error && j.error.message) || ("HTTP " + r.status));
        return j;
      });
    });
  }

  function showError(scope, e) {
    var el = (scope || document).querySelector("[data-webauthn-error]");
    if (el) { el.textContent = e.message || String(e); el.hidden = false; }
  }

  function getAssertion(options) {
    var pk = options.publicKey;
    pk.challenge = b64uToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
    return navigator.credentials.get({ publicKey: pk }).then(function (cred) {
      var r = cred.response;
      return {
        id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type,
        extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
        response: {
          authenticatorData: bufToB64u(r.authenticatorData),
          clientDataJSON: bufToB64u(r.clientDataJSON),
          signature: bufToB64u(r.signature),
          userHandle: r.userHandle ? bufToB64u(r.userHandle) : null
        }
      };
    });
  }

  function register(btn) {
    var box = btn.closest("[data-webauthn-register-box]");
    var name = box.querySelector("[data-webauthn-name]").value || "Security key";
    post("/api/v1/mfa/webauthn/register/start").then(function (s) {
      var pk = s.options.publicKey;
      pk.challenge = b64uToBuf(pk.challenge);
      pk.user.id = b64uToBuf(pk.user.id);
      (pk.excludeCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
      return navigator.credentials.create({ publicKey: pk }).then(function (cred) {
        var r = cred.response;
        return post("/api/v1/mfa/webauthn/register/finish", {
          ceremony_id: s.ceremony_id, name: name,
          credential: {
            id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type,
            extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
            response: {
              attestationObject: bufToB64u(r.attestationObject),
              clientDataJSON: bufToB64u(r.clientDataJSON)
            }
          }
        });
      });
    }).then(function () { window.location.assign("/mfa?next=/account"); })
      .catch(function (e) { showError(box, e); });
  }

  function verify(btn) {
    post("/api/v1/mfa/webauthn/authenticate/start").then(function (s) {
      return getAssertion(s.options).then(function (a) {
        return post("/api/v1/mfa/webauthn/authenticate/finish", { ceremony_id: s.ceremony_id, assertion: a });
      });
    }).then(function () { window.location.assign(btn.dataset.next || "/deploy-approvals"); })
      .catch(function (e) { showError(btn.closest("section"), e); });
  }

  function approve(btn) {
    var id = btn.dataset.webauthnApprove;
    var form = btn.closest("form");
    var base = "/api/v1/deploy-approval-requests/" + encodeURIComponent(id);
    post(base + "/webauthn/start").then(function (s) {
      return getAssertion(s.options).then(function (a) {
        var notes = form.querySelector("[name=notes]").value.trim();
        return post(base + "/approve", {
          notes: notes || null,
          intent_digest: form.querySelector("[name=intent_digest]").value,
          mfa: { webauthn: { ceremony_id: s.ceremony_id, assertion: a } }
        });
      });
    }).then(function () { window.location.assign("/deploy-approvals/" + encodeURIComponent(id) + "?done=approved"); })
      .catch(function (e) { showError(form, e); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.PublicKeyCredential) return;
    document.querySelectorAll("[data-webauthn-register-box]").forEach(function (b) { b.hidden = false; });
    document.querySelectorAll("[data-webauthn-register]").forEach(function (b) {
      b.addEventListener("click", function () { register(b); });
    });
    document.querySelectorAll("[data-webauthn-verify]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () { verify(b); });
    });
    document.querySelectorAll("[data-webauthn-approve]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () { approve(b); });
    });
  });
})();
