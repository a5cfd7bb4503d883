// The browser phone: follows the TwiML the real webhook returns, as Twilio would.
// The server signs and sends every request (the page never sees the auth token).
"use strict";
(() => {
  const layout = document.querySelector("main.layout");
  const api = { call: layout.dataset.apiCall, step: layout.dataset.apiStep, diagram: layout.dataset.diagram };
  const byId = (id) => document.getElementById(id);
  const transcript = byId("transcript");
  const statusLine = byId("status");
  const countdown = byId("countdown");
  const secondsLeft = byId("seconds-left");
  const player = byId("player");
  const callButton = byId("call");
  const hangupButton = byId("hangup");
  const ringing = byId("ringing");
  const keyButtons = Array.from(document.querySelectorAll(".key"));
  const toSelect = byId("to");

  let call = null; // {sid, to, flow} while a call is on
  let generation = 0; // bumped by every answer and hang-up: older loops stop
  let listening = null; // {finish(key|null)} while a <Gather> waits for a key
  let ringingDone = null; // resolves the transfer outcome
  let stopAudio = null;
  let ticker = null;
  let heardSeconds = 0;
  let lineHeard = null; // "Télé-Accueil after 14.2 s"
  let diagramKey = `${layout.dataset.flow}/${layout.dataset.lang}`;
  let currentNode = "";

  function line(text, kind, lang) {
    const item = document.createElement("li");
    item.className = kind;
    if (lang) item.lang = lang;
    item.textContent = text;
    transcript.append(item);
    item.scrollIntoView({ block: "nearest" });
    return item;
  }

  function showTiming() {
    const parts = [`Audio heard: ${heardSeconds.toFixed(1)} s`];
    if (lineHeard) parts.push(`${lineHeard}`);
    byId("timing").textContent = parts.join(" · ");
  }

  function playAudio(url) {
    return new Promise((resolve) => {
      const done = () => {
        player.onended = player.onerror = null;
        stopAudio = null;
        resolve();
      };
      stopAudio = () => {
        player.pause();
        done();
      };
      player.onended = done;
      player.onerror = done; // a missing file: the text is on screen already
      player.src = url;
      player.play().catch(done);
    });
  }

  async function hear(item, gen) {
    if (item.verb === "pause") {
      line(`(${item.seconds} s pause)`, "pause");
    } else {
      const entry = line("", "heard", item.lang);
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = `${item.lang || "?"} · ${item.seconds.toFixed(1)} s${item.verb === "play" ? " · audio" : ""}`;
      const words = document.createElement("span");
      words.className = "words";
      words.textContent = item.text || item.url;
      entry.append(meta, " ", words);
    }
    if (!lineHeard && item.line_at !== null && item.line_at !== undefined) {
      lineHeard = `${item.line}'s number heard after ${(heardSeconds + item.line_at).toFixed(1)} s`;
    }
    heardSeconds += item.seconds;
    showTiming();
    if (item.verb === "play" && item.url && gen === generation) await playAudio(item.url);
  }

  function stopCountdown() {
    if (ticker !== null) clearInterval(ticker);
    ticker = null;
    countdown.hidden = true;
  }

  function startCountdown(seconds, onEnd) {
    let left = seconds;
    countdown.dataset.timeout = String(seconds);
    secondsLeft.textContent = String(left);
    countdown.hidden = false;
    ticker = setInterval(() => {
      left -= 1;
      secondsLeft.textContent = String(Math.max(left, 0));
      if (left <= 0) {
        stopCountdown();
        onEnd();
      }
    }, 1000);
  }

  function gather(verb, gen) {
    return new Promise((resolve) => {
      let done = false;
      const finish = (key) => {
        if (done) return;
        done = true;
        listening = null;
        byId("say").hidden = true; // until the next menu that listens for speech
        stopCountdown();
        if (stopAudio) stopAudio();
        resolve(key);
      };
      listening = { finish, speech: Boolean(verb.speech) }; // keys work while the prompt is said, as on a phone
      sayForm.hidden = !verb.speech; // the menu listens for speech only where the flow turns it on
      (async () => {
        for (const item of verb.heard) {
          if (done || gen !== generation) return;
          await hear(item, gen);
        }
        if (done || gen !== generation) return;
        statusLine.textContent = "Listening for a key.";
        startCountdown(verb.timeout, () => finish(null));
      })();
    });
  }

  function ring(verb) {
    byId("ringing-number").textContent = verb.number;
    ringing.hidden = false;
    statusLine.textContent = `Transfer: ringing ${verb.number}.`;
    line(`(transfer: ringing ${verb.number})`, "event");
    if (verb.whisper) line(`(the volunteer who answers hears first: ${verb.whisper})`, "event");
    return new Promise((resolve) => {
      ringingDone = (status) => {
        ringing.hidden = true;
        ringingDone = null;
        line(`(transfer ${status})`, "event");
        resolve(status);
      };
    });
  }

  function highlight(node) {
    currentNode = node || "";
    document.querySelectorAll("#diagram .current").forEach((el) => el.classList.remove("current"));
    const box = node ? byId(`node-${node}`) : null;
    if (box) box.classList.add("current");
    byId("current-node").textContent = node || "unknown";
  }

  async function showDiagram(flow, lang) {
    const key = `${flow}/${lang}`;
    if (!flow || !lang || key === diagramKey) return;
    diagramKey = key;
    const response = await fetch(`${api.diagram}?${new URLSearchParams({ flow, lang })}`);
    if (response.ok && diagramKey === key) {
      byId("diagram").innerHTML = await response.text();
      highlight(currentNode);
    }
  }

  function end(message) {
    generation += 1;
    call = null;
    if (listening) listening.finish(null);
    listening = null;
    stopCountdown();
    if (stopAudio) stopAudio();
    byId("say").hidden = true;
    ringing.hidden = true;
    ringingDone = null;
    keyButtons.forEach((b) => (b.disabled = true));
    hangupButton.disabled = true;
    callButton.disabled = false;
    statusLine.textContent = message;
    line(message, "event");
  }

  async function post(url, payload) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
    const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  async function step(payload) {
    if (!call) return;
    const gen = generation;
    try {
      const answer = await post(api.step, { call: call.sid, to: call.to, at: call.at, ...payload });
      if (gen === generation && call) await handle(answer);
    } catch (error) {
      end(`Error: ${error.message}`);
    }
  }

  async function handle(answer) {
    generation += 1;
    const gen = generation;
    byId("twiml").textContent = answer.twiml;
    highlight(answer.node);
    statusLine.textContent = `In call: ${answer.node || "?"}${answer.lang ? ` (${answer.lang})` : ""}.`;
    if (answer.kind !== "language") showDiagram(answer.flow, answer.lang);
    for (const verb of answer.verbs) {
      if (gen !== generation) return;
      if (verb.verb === "say" || verb.verb === "play" || verb.verb === "pause") {
        await hear(verb, gen);
      } else if (verb.verb === "gather") {
        const key = await gather(verb, gen);
        if (gen !== generation) return;
        if (key !== null && typeof key === "object") return step({ url: verb.action, speech: key.speech });
        if (key !== null) return step({ url: verb.action, digits: key });
        line(`(no key for ${verb.timeout} s)`, "silence");
      } else if (verb.verb === "redirect") {
        return step({ url: verb.url });
      } else if (verb.verb === "dial") {
        const outcome = await ring(verb);
        if (gen !== generation) return;
        if (verb.action) return step({ url: verb.action, dial_status: outcome });
        if (outcome === "completed") return end("Transfer connected: the caller is with the line.");
      } else if (verb.verb === "hangup") {
        return end("The service ended the call.");
      }
    }
    if (gen === generation) end("The call ended after the last instruction.");
  }

  const sayForm = byId("say");
  sayForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId("say-words");
    const words = input.value.trim();
    if (!words || !listening || !listening.speech) return;
    line(`You said “${words}”`, "pressed");
    input.value = "";
    sayForm.hidden = true;
    listening.finish({ speech: words });
  });

  function press(key) {
    if (!call) return;
    const button = keyButtons.find((b) => b.dataset.key === key);
    if (button) {
      button.classList.add("pressed");
      setTimeout(() => button.classList.remove("pressed"), 150);
    }
    if (listening) {
      line(`You pressed ${key}`, "pressed");
      listening.finish(key);
    } else {
      line(`(key ${key} not heard: nothing is listening now)`, "ignored");
    }
  }

  callButton.addEventListener("click", async () => {
    transcript.replaceChildren();
    heardSeconds = 0;
    lineHeard = null;
    showTiming();
    callButton.disabled = true;
    hangupButton.disabled = false;
    statusLine.textContent = "Calling…";
    const to = toSelect ? toSelect.value : "";
    const at = byId("at").value; // each request carries the moment: the server keeps no call state
    const gen = generation;
    try {
      const answer = await post(api.call, { to, at });
      if (gen !== generation) return; // hung up while calling
      call = { sid: answer.call, to, at };
      if (answer.at) line(`At ${answer.at}, Brussels time.`, "event");
      if (answer.note) line(`Note: ${answer.note}.`, "event");
      keyButtons.forEach((b) => (b.disabled = false)); // keys work once the call is answered
      await handle(answer);
    } catch (error) {
      end(`Error: ${error.message}`);
    }
  });

  hangupButton.addEventListener("click", () => end("You hung up."));
  keyButtons.forEach((b) => b.addEventListener("click", () => press(b.dataset.key)));
  ringing.querySelectorAll("button[data-status]").forEach((b) =>
    b.addEventListener("click", () => ringingDone && ringingDone(b.dataset.status)),
  );
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target instanceof HTMLElement && event.target.closest("input, select, textarea")) return;
    if (/^[0-9*#]$/.test(event.key) && call) {
      event.preventDefault();
      press(event.key);
    }
  });
})();
