/*! Sightline feedback snippet: send thumbs and ratings from the browser. No dependencies.
 *
 *   <script src="https://sightline.example.com/static/sightline-feedback.js"></script>
 *   <script>
 *     const feedback = SightlineFeedback.init({
 *       endpoint: "https://sightline.example.com",   // your Sightline's base URL
 *       key: "sl_f_…",                               // the project's *feedback* key (write-only)
 *       userId: "user-812",                          // optional
 *     });
 *     feedback.thumbsUp(traceId);                     // or thumbsDown(traceId, {comment: "wrong plan"})
 *     feedback.rate(traceId, 4);                      // 1–5
 *   </script>
 *
 * Every call returns a Promise of {ok, status, body}; it never throws. Requests use `keepalive`, so a vote
 * sent as the page unloads still arrives. Only ever put a feedback key (sl_f_…) in a page: it can send
 * feedback and nothing else.
 */
(function (root) {
  "use strict";

  function init(options) {
    var opts = options || {};
    if (!opts.key) throw new Error("SightlineFeedback.init: `key` (a sl_f_… feedback key) is required");
    var url = String(opts.endpoint || "").replace(/\/+$/, "") + "/api/v1/feedback";

    function send(item) {
      var body = {};
      for (var name in item) if (item[name] !== undefined && item[name] !== null) body[name] = item[name];
      if (opts.userId && !body.user_id) body.user_id = String(opts.userId);
      if (!body.timestamp) body.timestamp = new Date().toISOString();
      return fetch(url, {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        keepalive: true,
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + opts.key },
        body: JSON.stringify(body),
      })
        .then(function (response) {
          return response
            .json()
            .catch(function () { return null; })
            .then(function (json) { return { ok: response.ok, status: response.status, body: json }; });
        })
        .catch(function (error) { return { ok: false, status: 0, body: { error: String(error) } }; });
    }

    function extra(traceId, kind, more) {
      var item = { trace_id: traceId, kind: kind };
      var fields = more || {};
      if (fields.comment) item.comment = String(fields.comment);
      if (fields.userId) item.user_id = String(fields.userId);
      return item;
    }

    return {
      send: send,
      thumbsUp: function (traceId, more) { return send(extra(traceId, "thumbs_up", more)); },
      thumbsDown: function (traceId, more) { return send(extra(traceId, "thumbs_down", more)); },
      rate: function (traceId, value, more) {
        var item = extra(traceId, "rating", more);
        item.value = value;
        return send(item);
      },
    };
  }

  root.SightlineFeedback = { init: init };
})(typeof window !== "undefined" ? window : this);
