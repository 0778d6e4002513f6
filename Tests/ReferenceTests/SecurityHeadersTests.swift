import Testing
import Reference
import Wire

@Suite struct SecurityHeadersTests {
    static let documented = [("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                             ("Referrer-Policy", "strict-origin-when-cross-origin")]

    func expectDocumentedHeaders(_ r: HTTPResponse, _ comment: Comment? = nil) {
        for (name, value) in Self.documented {
            #expect(r.headers.values(name) == [value], comment)
        }
        #expect(r.headers["Permissions-Policy"] == nil, comment)
        #expect(r.headers.values("X-Request-Id").count == 1, comment)
        #expect(r.headers["X-Request-Id"]?.isEmpty == false, comment)
    }

    @Test func applyAddsOnlyWhatIsMissingComparingNamesCaseInsensitively() {
        var r = HTTPResponse(status: 200, headers: HTTPFields([("x-frame-options", "SAMEORIGIN")]))
        SecurityHeaders.defaults.apply(to: &r)
        #expect(r.headers.values("X-Frame-Options") == ["SAMEORIGIN"])
        #expect(r.headers["X-Content-Type-Options"] == "nosniff")
        #expect(r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin")
        #expect(r.headers["Permissions-Policy"] == nil)
    }

    @Test func configuredPermissionsPolicyIsSentAndBlankHeadersAreNot() throws {
        let c = try Configuration.parse(environment: ["SECURITY_HEADER_PERMISSIONS_POLICY": "geolocation=()", "SECURITY_HEADER_X_FRAME_OPTIONS": ""])
        let r = Harnessed(configuration: c).send("GET", "/healthz")
        #expect(r.headers["Permissions-Policy"] == "geolocation=()")
        #expect(r.headers["X-Frame-Options"] == nil)
        let notFound = Harnessed(configuration: c).send("GET", "/nowhere")
        #expect(notFound.headers["Permissions-Policy"] == "geolocation=()")
        #expect(notFound.headers["X-Frame-Options"] == nil)
    }

    @Test func everyKindOfResponseCarriesTheHeaders() {
        var c = Configuration.defaults
        c.testRoutes = true
        c.webhookMaxPayloadBytes = 4
        let h = Harnessed(configuration: c)
        let cases: [(Int, HTTPResponse)] = [
            (200, h.send("GET", "/healthz")),
            (202, h.post(Seed.openHook, body: [])),
            (404, h.send("GET", "/nowhere")),
            (405, h.send("DELETE", "/healthz")),
            (413, h.post(Seed.openHook, body: Array("too long".utf8))),
            (422, h.send("POST", Seed.ingestPath("x", "y"))),
            (401, h.send("GET", "/api/v1/agent/healthz", peer: "198.51.100.1")),
            (403, h.post(Seed.signedHook, body: [])),
            (410, h.post(Seed.disabledHook)),
            (500, h.send("GET", "/__mcsec/fault")),
        ]
        for (status, r) in cases {
            #expect(r.status == status)
            expectDocumentedHeaders(r, "status \(status)")
        }
        for _ in 0..<70 { _ = h.post(Seed.openHook, body: [], peer: "198.51.100.2") }
        let limited = h.post(Seed.openHook, body: [], peer: "198.51.100.2")
        #expect(limited.status == 429)
        expectDocumentedHeaders(limited, "status 429")
    }

    @Test(arguments: [400, 408, 413, 431, 500, 503])
    func errorsTheServerAnswersItselfCarryTheShapeAndTheHeaders(status: Int) {
        let r = Harnessed().service.handleProtocolError(status: status, detail: "malformed request line")
        #expect(r.status == status)
        #expect(r.detail == "malformed request line")
        #expect(r.json?["request_id"]?.stringValue == r.headers["X-Request-Id"])
        expectDocumentedHeaders(r, "status \(status)")
    }

    @Test func aMalformedRequestOverHTTPGetsTheHeadersToo() throws {
        let server = HTTPServer(handler: Harnessed().service)
        let port = try server.start()
        defer { server.stop() }
        let connection = try RawHTTPConnection(host: "127.0.0.1", port: port)
        defer { connection.close() }
        try connection.sendRaw(Array("GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n".utf8))
        let r = try connection.readResponse()
        #expect(r.status == 400)
        #expect(r.json?["request_id"]?.stringValue == r.headers["X-Request-Id"])
        expectDocumentedHeaders(r, "server-side 400")
    }

    @Test func faultRouteIsA500ThroughTheErrorPathOnlyWhenEnabled() {
        var c = Configuration.defaults
        c.testRoutes = true
        let h = Harnessed(configuration: c)
        let r = h.send("GET", "/__mcsec/fault")
        #expect(r.status == 500)
        #expect(r.detail == "Internal Server Error")
        #expect(r.json?["request_id"]?.stringValue == r.headers["X-Request-Id"])
        #expect(h.service.log.lines.contains { $0.hasPrefix("request.error") })
        #expect(Harnessed().send("GET", "/__mcsec/fault").status == 404)
    }
}

@Suite struct RoutingTests {
    @Test func unknownRouteIs404InTheErrorShape() {
        let r = Harnessed().send("GET", "/api/v1/nothing")
        #expect(r.status == 404)
        #expect(r.detail == "Not Found")
        #expect(r.json?["request_id"]?.stringValue == r.headers["X-Request-Id"])
    }

    @Test(arguments: [("DELETE", "/healthz", "GET"), ("PUT", Seed.ingestPath(Seed.openHook), "POST, GET, PATCH, DELETE"), ("PUT", "/api/v1/agent/boards", "GET"),
                      ("GET", "/api/v1/gateways/sessions/s/message", "POST"), ("HEAD", "/readyz", "GET")])
    func wrongMethodIs405WithAllow(method: String, path: String, allow: String) {
        let r = Harnessed().send(method, path)
        #expect(r.status == 405)
        #expect(r.headers["Allow"] == allow)
        #expect(r.detail == "Method Not Allowed")
    }

    @Test(arguments: ["//healthz", "/api/v1//gateways", "healthz", "*", "", "/api/v1/board", "/API/V1/GATEWAYS", "/", "/api/v1/agent/boards/x/y/z"])
    func oddPathsAre404(path: String) {
        #expect(Harnessed().send("GET", path).status == 404)
    }

    @Test func healthWithAQueryStringStillAnswers() {
        let r = Harnessed().send("GET", "/healthz?probe=1")
        #expect(r.status == 200)
        #expect(r.json == .object([("ok", .bool(true))]))
    }

    @Test func saneClientRequestIdIsEchoedAndOthersReplaced() {
        let h = Harnessed()
        #expect(h.send("GET", "/healthz", headers: [("X-Request-Id", "abc-123_x.y:z")]).headers["X-Request-Id"] == "abc-123_x.y:z")
        let echoed = h.send("GET", "/nowhere", headers: [("x-request-id", "trace-1")])
        #expect(echoed.headers["X-Request-Id"] == "trace-1")
        #expect(echoed.json?["request_id"]?.stringValue == "trace-1")
        for bad in ["", "has space", "new\nline", String(repeating: "a", count: 129), "<script>", "caf\u{e9}"] {
            let id = h.send("GET", "/healthz", headers: [("X-Request-Id", bad)]).headers["X-Request-Id"] ?? ""
            #expect(id != bad)
            #expect(id.count == 36)
        }
        #expect(h.send("GET", "/healthz", headers: [("X-Request-Id", String(repeating: "a", count: 128))]).headers["X-Request-Id"]?.count == 128)
    }

    @Test func generatedRequestIdsAreDistinct() {
        let h = Harnessed()
        let ids = (0..<1000).map { _ in h.send("GET", "/healthz").headers["X-Request-Id"] ?? "" }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { UUIDText.canonical($0) == $0 })
        #expect(h.send("GET", "/healthz").headers.values("X-Request-Id").count == 1)
    }
}
