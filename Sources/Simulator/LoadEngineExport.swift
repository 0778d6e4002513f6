import Foundation
import Wire

// Rule: a profile can be handed to an existing distributed load engine when one machine cannot
// reach the scale.
//
// vegeta (JSON targets, `vegeta attack -format=json -lazy`): one target per line,
// {"method","url","header":{name:[values]},"body":base64}. vegeta paces targets at its own
// constant `-rate` and keeps no per-target time, so the export carries the requests, in profile
// order, not the schedule; each URL carries `?mcsec_event=<index>` so that results can be
// matched to events (`mcsec simulate --compare` re-predicts at the times vegeta actually sent).
//
// k6 (a script): the events are embedded as arrays and a `shared-iterations` scenario hands
// them out in order; each iteration sleeps until its event's offset from the scenario start,
// then sends it. That reproduces the exact schedule as long as a VU is free (an open model
// within the VU pool); when all VUs are busy the event starts late, and the script records the
// lateness in a `mcsec_lateness_ms` trend. A `ramping-arrival-rate` executor would only
// approximate the schedule by piecewise rates, and `constant-arrival-rate` would flatten it.
//
// Neither engine can send from many source addresses, so each request comes from the engine's
// machine. With `clientHeader` set (say `X-Forwarded-For`, for a target that trusts the engine
// as a proxy), every request names its profile client in that header; an event's own proxy
// header of the same name is kept in front, as a proxy appends the peer it saw.

/// Exports profiles for vegeta and k6.
public struct LoadEngineExport {
    public let builder: EventRequestBuilder
    /// Header that carries each event's client address (nil: none).
    public let clientHeader: String?

    public init(builder: EventRequestBuilder, clientHeader: String?) {
        self.builder = builder
        self.clientHeader = clientHeader
    }

    var baseURL: String {
        var base = builder.target.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        // The request path already holds any path prefix of the base URL.
        if let c = URLComponents(string: base), let scheme = c.scheme, let host = c.host {
            return "\(scheme)://\(host)\(c.port.map { ":\($0)" } ?? "")"
        }
        return base
    }

    /// The proxy headers an event is sent with: its own, then the client header.
    func proxyHeaders(client: String, own: ProxyHeader?) -> [(String, String)] {
        var result: [(String, String)] = []
        if let own { result.append((own.name, own.value)) }
        if let clientHeader {
            if let i = result.firstIndex(where: { $0.0.lowercased() == clientHeader.lowercased() }) {
                result[i].1 += ", " + client
            } else {
                result.append((clientHeader, client))
            }
        }
        return result
    }

    /// Writes vegeta JSON targets, one per event.
    public func writeVegeta(_ profile: Profile, to sink: ByteSink) throws(FileError) {
        let base = baseURL
        for i in 0..<profile.count {
            let endpoint = profile.endpoint(at: i), signature = profile.signature(at: i)
            let client = profile.clients[Int(profile.clientIDs[i])]
            var (fields, body) = builder.headersAndBody(endpoint: endpoint, signature: signature, bodyBytes: Int(profile.bodyBytes[i]),
                                                        proxy: nil, index: i)
            for (name, value) in proxyHeaders(client: client, own: profile.proxyHeader(at: i)) { fields.append(name, value) }
            var grouped: [(String, [String])] = []
            for field in fields {
                if let k = grouped.firstIndex(where: { $0.0 == field.name }) { grouped[k].1.append(field.value) } else { grouped.append((field.name, [field.value])) }
            }
            let url = base + builder.path(endpoint: endpoint, signature: signature, index: i)
            try sink.withBuffer { out in
                out.append(contentsOf: "{\"method\":\"\(endpoint == .webhook ? "POST" : "GET")\",\"url\":".utf8)
                JSONText.append(url, to: &out)
                out.append(contentsOf: ",\"header\":{".utf8)
                for (k, (name, values)) in grouped.enumerated() {
                    if k > 0 { out.append(44) }
                    JSONText.append(name, to: &out)
                    out.append(contentsOf: ":[".utf8)
                    for (j, v) in values.enumerated() {
                        if j > 0 { out.append(44) }
                        JSONText.append(v, to: &out)
                    }
                    out.append(UInt8(ascii: "]"))
                }
                out.append(UInt8(ascii: "}"))
                if !body.isEmpty {
                    out.append(contentsOf: ",\"body\":\"".utf8)
                    out.append(contentsOf: Data(body).base64EncodedString().utf8)
                    out.append(UInt8(ascii: "\""))
                }
                out.append(contentsOf: "}\n".utf8)
            }
        }
        try sink.flush()
    }

    /// Writes a k6 script reproducing the profile's schedule with `vus` virtual users.
    public func writeK6(_ profile: Profile, source: String, vus: Int, to sink: ByteSink) throws(FileError) {
        let target = builder.target
        let duration = profile.duration
        try sink.write("""
        // k6 script generated by `mcsec profile --format k6` from \(source.replacingOccurrences(of: "\n", with: " ")):
        // \(profile.count) events over \(String(format: "%.3f", duration)) s from \(profile.clients.count) client addresses.
        //
        // Each iteration takes the next event in order (shared-iterations hands them out as VUs
        // become free), sleeps until the event's offset from the scenario start and sends it:
        // the profile's exact schedule while a VU is free. When every VU is busy the event starts
        // late; mcsec_lateness_ms records by how much (raise VUS if it grows).
        //
        // Run: k6 run -e MCSEC_TARGET=http://host:port script.js
        import http from 'k6/http';
        import exec from 'k6/execution';
        import crypto from 'k6/crypto';
        import { sleep } from 'k6';
        import { Trend } from 'k6/metrics';

        const BASE = (__ENV.MCSEC_TARGET || \(JSONText.quote(baseURL))).replace(/\\/+$/, '');
        const PREFIX = \(JSONText.quote(builder.prefix));
        const BOARD = \(JSONText.quote(target.boardID ?? ""));
        const OPEN_WEBHOOK = \(JSONText.quote(target.openWebhookID ?? ""));
        const SIGNED_WEBHOOK = \(JSONText.quote(target.signedWebhookID ?? ""));
        const SECRET = \(JSONText.quote(target.signedSecret ?? ""));
        const WRONG_KEY = \(JSONText.quote(String(decoding: EventRequestBuilder.wrongKey, as: UTF8.self)));
        const SIGNATURE_HEADER = \(JSONText.quote(target.signatureHeader));
        const AGENT_TOKEN = \(JSONText.quote(target.agentToken ?? ""));
        const INVALID_TOKEN = \(JSONText.quote(EventRequestBuilder.invalidToken));
        const AGENT_PATH = \(JSONText.quote(target.agentPath));
        const CLIENT_HEADER = \(clientHeader.map(JSONText.quote) ?? "null");
        const VUS = \(max(1, vus));

        """)
        try sink.write("const CLIENTS = [" + profile.clients.map(JSONText.quote).joined(separator: ",") + "];\n")
        try sink.write("const PROXIES = [" + profile.proxyHeaders.map { "[\(JSONText.quote($0.name)),\(JSONText.quote($0.value))]" }.joined(separator: ",") + "];\n")
        try writeEventColumns(profile, to: sink, open: { "const \($0) = [" }, close: "];\n")
        try sink.write("""

        export const options = {
          discardResponseBodies: true,
          scenarios: {
            profile: {
              executor: 'shared-iterations',
              vus: VUS,
              iterations: T.length,
              maxDuration: '\(Int(duration.rounded(.up)) + 120)s',
            },
          },
        };

        const lateness = new Trend('mcsec_lateness_ms', true);

        // The body of event i: exactly n bytes, {"mcsec_event":i} padded with spaces (as mcsec builds it).
        function body(i, n) {
          if (n <= 0) return null;
          const json = '{"mcsec_event":' + i + '}';
          if (json.length > n) return 'x'.repeat(n);
          return json + ' '.repeat(n - json.length);
        }

        export default function () {
          const i = exec.scenario.iterationInTest;
          if (i >= T.length) return;
          const due = exec.scenario.startTime + T[i] * 1000;
          const wait = due - Date.now();
          if (wait > 0) sleep(wait / 1000);
          lateness.add(Math.max(0, Date.now() - due));

          const kind = K[i];
          const signature = ['valid', 'missing', 'invalid', 'none'][(kind >> 1) & 3];
          const headers = { 'X-Request-Id': 'mcsec-event-' + i };
          const proxy = P.length ? P[i] : -1;
          if (proxy >= 0) headers[PROXIES[proxy][0]] = PROXIES[proxy][1];
          if (CLIENT_HEADER) headers[CLIENT_HEADER] = headers[CLIENT_HEADER] ? headers[CLIENT_HEADER] + ', ' + CLIENTS[C[i]] : CLIENTS[C[i]];
          const tags = { mcsec_event: String(i), endpoint: (kind & 1) ? 'agent_auth' : 'webhook', signature: signature };
          if ((kind & 1) === 0) {
            const payload = body(i, B[i]);
            headers['Content-Type'] = 'application/json';
            if (signature === 'valid') headers[SIGNATURE_HEADER] = 'sha256=' + crypto.hmac('sha256', SECRET, payload || '', 'hex');
            if (signature === 'invalid') headers[SIGNATURE_HEADER] = 'sha256=' + crypto.hmac('sha256', WRONG_KEY, payload || '', 'hex');
            const hook = signature === 'none' ? OPEN_WEBHOOK : SIGNED_WEBHOOK;
            http.post(BASE + PREFIX + '/api/v1/boards/' + BOARD + '/webhooks/' + hook, payload, { headers: headers, tags: tags });
          } else {
            if (signature === 'valid') headers['X-Agent-Token'] = AGENT_TOKEN;
            if (signature === 'invalid') headers['X-Agent-Token'] = INVALID_TOKEN;
            http.get(BASE + PREFIX + AGENT_PATH, { headers: headers, tags: tags });
          }
        }

        """)
        try sink.flush()
    }

    /// The events as five arrays (offset in seconds, client index, kind (endpoint | signature
    /// << 1), body bytes, proxy index), in the syntax of the script they go into.
    func writeEventColumns(_ profile: Profile, to sink: ByteSink, open: (String) -> String, close: String) throws(FileError) {
        func column(_ name: String, _ count: Int, _ item: (Int, inout [UInt8]) -> Void) throws(FileError) {
            try sink.write(open(name))
            for i in 0..<count {
                try sink.withBuffer { out in
                    if i > 0 { out.append(44) }
                    if i % 20 == 0 { out.append(10) }
                    item(i, &out)
                }
            }
            try sink.write(close)
        }
        try column("T", profile.count) { i, out in ProfileRules.appendTime(profile.times[i], to: &out) }
        try column("C", profile.count) { i, out in ProfileRules.appendInteger(Int64(profile.clientIDs[i]), to: &out) }
        try column("K", profile.count) { i, out in ProfileRules.appendInteger(Int64(profile.kinds[i]), to: &out) }
        try column("B", profile.count) { i, out in ProfileRules.appendInteger(Int64(profile.bodyBytes[i]), to: &out) }
        try column("P", profile.proxyIDs.isEmpty ? 0 : profile.count) { i, out in ProfileRules.appendInteger(Int64(profile.proxyIDs[i]), to: &out) }
    }
}
