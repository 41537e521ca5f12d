// The toolkit chat: streams answers over Server-Sent Events (fetch + ReadableStream, since
// EventSource cannot POST) as plain text, then swaps in the answer as the server rendered it
// (templates/rag/message.html, the same HTML as the history), and handles feedback and the
// history sidebar; a Stop button aborts an answer mid-stream (the text so far stays, marked
// partial), and with several toolkits a chooser says which ones answer. URLs come from data-
// attributes and the server's events; markup comes from <template> elements or the server; text
// only ever goes into the page as text nodes.
(function () {
  "use strict";

  var chat = document.getElementById("chat");
  if (!chat) return;
  var form = document.getElementById("ask-form");
  var input = document.getElementById("question");
  var button = document.getElementById("ask-button");
  var stopButton = document.getElementById("stop-button");
  var list = document.getElementById("messages");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var conversationId = chat.dataset.conversationId || null;
  var busy = false;
  var controller = null; // aborts the answer being streamed (the Stop button)

  function api(method, url, body, signal) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal,
    });
  }

  function copyOf(templateId) {
    return document.getElementById(templateId).content.firstElementChild.cloneNode(true);
  }

  // The server's HTML, parsed inside an inert <template> (nothing in it runs), as one element.
  function parsed(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html;
    return holder.content.firstElementChild;
  }

  // --- which toolkits answer (shown only when there is more than one) --------------------------
  // The unticked ones are remembered per user, so that a toolkit published later starts ticked.
  var chooser = document.getElementById("toolkit-chooser");
  var toolkitBoxes = chooser ? Array.prototype.slice.call(chooser.querySelectorAll("input[type=checkbox]")) : [];
  var choiceKey = "toolkitrag.chat.unticked-toolkits." + chat.dataset.userId;

  function remembered() {
    try {
      var unticked = JSON.parse(window.localStorage.getItem(choiceKey));
      return Array.isArray(unticked) ? unticked : [];
    } catch (e) {
      return []; // storage blocked or garbled: everything ticked
    }
  }

  function remember() {
    var unticked = toolkitBoxes.filter(function (box) { return !box.checked; }).map(function (box) { return box.value; });
    try { window.localStorage.setItem(choiceKey, JSON.stringify(unticked)); } catch (e) { /* not kept */ }
  }

  function chosenToolkits() {
    return toolkitBoxes.filter(function (box) { return box.checked; }).map(function (box) { return Number(box.value); });
  }

  if (chooser) {
    var unticked = remembered();
    // A remembered choice that would leave nothing ticked (toolkits withdrawn since) is ignored.
    if (toolkitBoxes.some(function (box) { return unticked.indexOf(box.value) === -1; })) {
      toolkitBoxes.forEach(function (box) { box.checked = unticked.indexOf(box.value) === -1; });
    }
    chooser.addEventListener("change", function (event) {
      var none = chosenToolkits().length === 0;
      if (none) event.target.checked = true; // at least one toolkit must answer
      chooser.querySelector(".toolkit-chooser-hint").hidden = !none;
      remember();
    });
  }

  // --- asking ---------------------------------------------------------------------------------
  function newExchange(question) {
    var article = copyOf("new-exchange");
    article.querySelector(".question-text").textContent = question;
    list.appendChild(article);
    article.scrollIntoView({ block: "end" });
    return article;
  }

  function fail(article, message) {
    var answer = article.querySelector(".answer");
    answer.classList.remove("answer-streaming");
    answer.querySelector(".answer-text").textContent = "";
    var error = answer.querySelector(".answer-error");
    error.textContent = message;
    error.hidden = false;
  }

  // Stopped by the user: what was streamed stays, marked as a partial answer.
  function markStopped(article, streamed) {
    var answer = article.querySelector(".answer");
    answer.classList.remove("answer-streaming");
    answer.classList.add("answer-partial");
    answer.querySelector(".answer-text").textContent = streamed;
    answer.querySelector(".answer-partial-note").hidden = false;
  }

  function setBusy(on) {
    busy = on;
    button.disabled = on;
    button.hidden = on;
    stopButton.hidden = !on;
  }

  function parseEvents(buffer, onEvent) {
    var events = buffer.split("\n\n");
    var rest = events.pop();
    events.forEach(function (block) {
      var name = "message";
      var data = "";
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event: ") === 0) name = line.slice(7);
        else if (line.indexOf("data: ") === 0) data += line.slice(6);
      });
      if (data) onEvent(name, JSON.parse(data));
    });
    return rest;
  }

  function onStart(data, title) {
    if (conversationId === String(data.conversation_id)) return;
    conversationId = String(data.conversation_id);
    chat.dataset.conversationId = conversationId;
    window.history.replaceState(null, "", data.conversation_url);
    var empty = document.querySelector(".empty-history");
    if (empty) empty.remove();
    var item = copyOf("new-conversation");
    item.dataset.id = conversationId;
    item.dataset.url = data.conversation_api_url;
    var link = item.querySelector("a");
    link.href = data.conversation_url;
    link.textContent = title;
    var sidebar = document.getElementById("conversation-list");
    sidebar.insertBefore(item, sidebar.firstChild);
  }

  async function ask(question) {
    if (busy || !question.trim()) return;
    setBusy(true);
    controller = new AbortController();
    var signal = controller.signal;
    var emptyState = document.getElementById("empty-state");
    if (emptyState) emptyState.remove();
    var article = newExchange(question);
    var text = article.querySelector(".answer-text");
    var streamed = "";
    var gotFinal = false;
    try {
      var body = { query: question };
      if (conversationId) body.conversation_id = Number(conversationId);
      // All ticked means all: sent as no choice, so a toolkit published or withdrawn since the
      // page loaded is simply included or left out, and no id list grows past the API's limit.
      var chosen = chooser ? chosenToolkits() : [];
      if (chosen.length && chosen.length < toolkitBoxes.length) body.toolkits = chosen;
      var response = await api("POST", chat.dataset.streamUrl, body, signal);
      if (!response.ok) {
        var problem = {};
        try { problem = await response.json(); } catch (e) { /* not JSON */ }
        if (response.status === 401) fail(article, "Your session has ended. Log in again to ask questions.");
        else fail(article, problem.error || "The question could not be sent (HTTP " + response.status + ").");
        return;
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        buffer += decoder.decode(chunk.value, { stream: true });
        buffer = parseEvents(buffer, function (name, data) {
          if (name === "start") {
            onStart(data, question.slice(0, 80));
          } else if (name === "token") {
            streamed += data.text;
            text.textContent = streamed;
          } else if (name === "final") {
            gotFinal = true;
            var rendered = parsed(data.html);
            article.replaceWith(rendered);
            article = rendered;
          }
        });
      }
      if (!gotFinal) fail(article, "The connection was lost before the answer was complete. Please ask again.");
    } catch (error) {
      if (gotFinal) return;
      if (signal.aborted) markStopped(article, streamed);
      else fail(article, "The connection was lost before the answer was complete. Please ask again.");
    } finally {
      controller = null;
      setBusy(false);
      input.focus();
    }
  }

  stopButton.addEventListener("click", function () {
    // The server notices on its next write and records what it had sent as a partial answer; an
    // answer written in one piece (extractive) may already be recorded whole.
    if (controller) controller.abort();
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value;
    input.value = "";
    ask(question);
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // --- clicks anywhere in the chat --------------------------------------------------------------
  chat.addEventListener("click", function (event) {
    var target = event.target.closest("button");
    if (!target) return;
    if (target.classList.contains("example")) {
      ask(target.textContent);
    } else if (target.classList.contains("copy-answer")) {
      // innerText, not textContent: paragraphs, list items and table rows keep their line breaks.
      var answerText = target.closest(".answer").querySelector(".answer-text").innerText;
      navigator.clipboard.writeText(answerText).then(function () {
        target.textContent = "Copied";
        window.setTimeout(function () { target.textContent = "Copy answer"; }, 1500);
      });
    } else if (target.classList.contains("rate")) {
      rate(target);
    } else if (target.classList.contains("send-comment")) {
      sendComment(target);
    } else if (target.classList.contains("rename")) {
      rename(target.closest("li"));
    } else if (target.classList.contains("delete")) {
      remove(target.closest("li"));
    }
  });

  function rate(target) {
    var url = target.closest(".exchange").dataset.feedbackUrl;
    var rating = target.dataset.rating;
    api("POST", url, { rating: rating }).then(function (response) {
      if (!response.ok) return;
      target.parentNode.querySelectorAll(".rate").forEach(function (b) {
        b.setAttribute("aria-pressed", b === target ? "true" : "false");
      });
      var tools = target.closest(".answer-tools");
      tools.querySelector(".feedback-comment").hidden = false;
      tools.dataset.rating = rating;
    });
  }

  function sendComment(target) {
    var url = target.closest(".exchange").dataset.feedbackUrl;
    var tools = target.closest(".answer-tools");
    var box = tools.querySelector(".feedback-comment");
    api("POST", url, { rating: tools.dataset.rating, comment: box.querySelector("textarea").value }).then(
      function (response) {
        if (!response.ok) return;
        box.hidden = true;
        tools.querySelector(".feedback-thanks").hidden = false;
      }
    );
  }

  function rename(item) {
    var link = item.querySelector("a");
    var title = window.prompt("New name for this conversation:", link.textContent);
    if (!title || !title.trim()) return;
    api("PATCH", item.dataset.url, { title: title }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (data) link.textContent = data.title;
    });
  }

  function remove(item) {
    if (!window.confirm("Delete this conversation? This cannot be undone.")) return;
    api("DELETE", item.dataset.url).then(function (response) {
      if (!response.ok) return;
      if (item.dataset.id === conversationId) window.location.href = chat.dataset.chatUrl;
      else item.remove();
    });
  }
})();
