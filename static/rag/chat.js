// The toolkit chat: streams answers over Server-Sent Events (fetch + ReadableStream, since
// EventSource cannot POST), renders citations as links, and handles feedback, copying and the
// history sidebar. Model and document text only ever goes into the page as text nodes.
(function () {
  "use strict";

  var chat = document.getElementById("chat");
  if (!chat) return;
  var form = document.getElementById("ask-form");
  var input = document.getElementById("question");
  var button = document.getElementById("ask-button");
  var list = document.getElementById("messages");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var conversationId = chat.dataset.conversationId || null;
  var busy = false;

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // --- rendering an answer ------------------------------------------------------------------
  function renderAnswerText(container, answer, citations) {
    var urls = {};
    (citations || []).forEach(function (c) { urls[c.n] = c.url; });
    container.textContent = "";
    var pattern = /\[(\d{1,3})\]/g;
    var last = 0;
    var match;
    while ((match = pattern.exec(answer)) !== null) {
      container.appendChild(document.createTextNode(answer.slice(last, match.index)));
      var n = Number(match[1]);
      if (urls[n]) {
        var link = el("a", "cite", "[" + n + "]");
        link.href = urls[n];
        link.dataset.n = n;
        container.appendChild(link);
      } else {
        container.appendChild(document.createTextNode(match[0]));
      }
      last = pattern.lastIndex;
    }
    container.appendChild(document.createTextNode(answer.slice(last)));
  }

  function sourceList(items, label) {
    var ol = el("ol", "citations");
    ol.setAttribute("aria-label", label);
    items.forEach(function (c) {
      var li = el("li");
      li.value = c.n;
      var link = el("a", "", c.toolkit + " " + c.version_tag + " — " + (c.heading_path.join(" › ") || "Start of document"));
      link.href = c.url;
      li.appendChild(link);
      li.appendChild(el("span", "snippet", c.snippet));
      ol.appendChild(li);
    });
    return ol;
  }

  function tools(data) {
    var box = el("div", "answer-tools");
    box.appendChild(el("button", "tool copy-answer", "Copy answer"));
    if (data.answered && data.message_id) {
      var add = el("a", "tool add-to-plan", "Add to plan");
      add.href = "/strategies/add-answer/" + encodeURIComponent(data.message_id);
      box.appendChild(add);
    }
    var feedback = el("span", "feedback");
    [["up", "Helpful"], ["down", "Not helpful"]].forEach(function (spec) {
      var b = el("button", "tool rate", spec[1]);
      b.type = "button";
      b.dataset.rating = spec[0];
      b.setAttribute("aria-pressed", "false");
      feedback.appendChild(b);
    });
    box.firstChild.type = "button";
    box.appendChild(feedback);
    return box;
  }

  function newExchange(question) {
    var article = el("article", "exchange");
    var q = el("div", "question");
    q.appendChild(el("span", "visually-hidden", "You asked:"));
    q.appendChild(document.createTextNode(question));
    var answer = el("div", "answer answer-streaming");
    var text = el("div", "answer-text");
    text.appendChild(el("span", "thinking", "Searching the toolkit…"));
    answer.appendChild(text);
    article.appendChild(q);
    article.appendChild(answer);
    list.appendChild(article);
    article.scrollIntoView({ block: "end" });
    return article;
  }

  function finish(article, data) {
    var answer = article.querySelector(".answer");
    var text = answer.querySelector(".answer-text");
    answer.classList.remove("answer-streaming");
    article.dataset.messageId = data.message_id;
    if (!data.answered) answer.classList.add("answer-not-covered");
    if (data.extractive) {
      answer.insertBefore(el("p", "answer-label", "Extractive answer: quoted from the toolkit (no AI model is configured)."), text);
    }
    renderAnswerText(text, data.answer || "", data.citations);
    if (data.error) {
      var error = el("p", "answer-error", data.error);
      error.setAttribute("role", "alert");
      answer.appendChild(error);
      if (data.sources && data.sources.length) {
        answer.appendChild(el("p", "muted", "Sections found for your question:"));
        answer.appendChild(sourceList(data.sources, "Sections found"));
      }
    }
    if (data.citations && data.citations.length) answer.appendChild(sourceList(data.citations, "Sources"));
    answer.appendChild(tools(data));
  }

  function fail(article, message) {
    var answer = article.querySelector(".answer");
    answer.classList.remove("answer-streaming");
    answer.querySelector(".answer-text").textContent = "";
    var error = el("p", "answer-error", message);
    error.setAttribute("role", "alert");
    answer.appendChild(error);
  }

  // --- asking ---------------------------------------------------------------------------------
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

  function onConversation(id, title) {
    if (conversationId === String(id)) return;
    conversationId = String(id);
    chat.dataset.conversationId = conversationId;
    window.history.replaceState(null, "", "/toolkit/c/" + id);
    var empty = document.querySelector(".empty-history");
    if (empty) empty.remove();
    var sidebar = document.getElementById("conversation-list");
    var item = el("li");
    item.dataset.id = id;
    item.className = "current";
    var link = el("a", "", title);
    link.href = "/toolkit/c/" + id;
    item.appendChild(link);
    [["rename", "Rename conversation", "✎", "Rename"], ["delete", "Delete conversation", "×", "Delete"]].forEach(function (spec) {
      var b = el("button", "tool " + spec[0], spec[2]);
      b.type = "button";
      b.title = spec[3];
      b.setAttribute("aria-label", spec[1]);
      item.appendChild(b);
    });
    sidebar.insertBefore(item, sidebar.firstChild);
  }

  async function ask(question) {
    if (busy || !question.trim()) return;
    busy = true;
    button.disabled = true;
    var emptyState = document.getElementById("empty-state");
    if (emptyState) emptyState.remove();
    var article = newExchange(question);
    var text = article.querySelector(".answer-text");
    var streamed = "";
    var gotFinal = false;
    try {
      var body = { query: question };
      if (conversationId) body.conversation_id = Number(conversationId);
      var response = await api("POST", "/api/rag/answer/stream", body);
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
            onConversation(data.conversation_id, question.slice(0, 80));
          } else if (name === "token") {
            streamed += data.text;
            text.textContent = streamed;
          } else if (name === "final") {
            gotFinal = true;
            finish(article, data);
          }
        });
      }
      if (!gotFinal) fail(article, "The connection was lost before the answer was complete. Please ask again.");
    } catch (error) {
      fail(article, "The connection was lost before the answer was complete. Please ask again.");
    } finally {
      busy = false;
      button.disabled = false;
      input.focus();
    }
  }

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
      var answerText = target.closest(".answer").querySelector(".answer-text").textContent;
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
    var article = target.closest(".exchange");
    var rating = target.dataset.rating;
    api("POST", "/api/rag/messages/" + article.dataset.messageId + "/feedback", { rating: rating }).then(function (response) {
      if (!response.ok) return;
      target.parentNode.querySelectorAll(".rate").forEach(function (b) {
        b.setAttribute("aria-pressed", b === target ? "true" : "false");
      });
      var tools = target.closest(".answer-tools");
      if (!tools.querySelector(".feedback-comment")) {
        var box = el("div", "feedback-comment");
        var label = el("label", "", "Tell us more (optional)");
        var area = el("textarea");
        area.id = "comment-" + article.dataset.messageId;
        area.rows = 2;
        area.maxLength = 2000;
        label.htmlFor = area.id;
        var send = el("button", "tool send-comment", "Send comment");
        send.type = "button";
        box.appendChild(label);
        box.appendChild(area);
        box.appendChild(send);
        tools.appendChild(box);
      }
      tools.dataset.rating = rating;
    });
  }

  function sendComment(target) {
    var article = target.closest(".exchange");
    var tools = target.closest(".answer-tools");
    var comment = tools.querySelector("textarea").value;
    api("POST", "/api/rag/messages/" + article.dataset.messageId + "/feedback", {
      rating: tools.dataset.rating, comment: comment,
    }).then(function (response) {
      if (response.ok) tools.querySelector(".feedback-comment").replaceChildren(el("p", "muted", "Thank you for your feedback."));
    });
  }

  function rename(item) {
    var link = item.querySelector("a");
    var title = window.prompt("New name for this conversation:", link.textContent);
    if (!title || !title.trim()) return;
    api("PATCH", "/api/rag/conversations/" + item.dataset.id, { title: title }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (data) link.textContent = data.title;
    });
  }

  function remove(item) {
    if (!window.confirm("Delete this conversation? This cannot be undone.")) return;
    api("DELETE", "/api/rag/conversations/" + item.dataset.id).then(function (response) {
      if (!response.ok) return;
      if (item.dataset.id === conversationId) window.location.href = "/toolkit";
      else item.remove();
    });
  }
})();
