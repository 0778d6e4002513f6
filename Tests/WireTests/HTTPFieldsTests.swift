import Testing
import Wire

@Suite struct HTTPFieldsTests {
    @Test func lookupIsCaseInsensitiveAndKeepsOrder() {
        var fields: HTTPFields = ["Content-Type": "text/plain", "X-Hub-Signature-256": "sha256=aa"]
        fields.append("x-hub-signature-256", "sha256=bb")
        #expect(fields["content-type"] == "text/plain")
        #expect(fields["X-HUB-SIGNATURE-256"] == "sha256=aa")
        #expect(fields.values("x-hub-signature-256") == ["sha256=aa", "sha256=bb"])
        #expect(fields.count == 3)
        #expect(!fields.contains("Content-Length"))
    }

    @Test func setReplacesAllDuplicatesInPlace() {
        var fields = HTTPFields([("A", "1"), ("B", "2"), ("a", "3")])
        fields.set("A", "9")
        #expect(fields.entries.map(\.name) == ["A", "B"])
        #expect(fields["a"] == "9")
        fields.set("C", "4")
        #expect(fields.entries.last == HTTPField(name: "C", value: "4"))
        fields.remove("b")
        #expect(fields.entries.map(\.name) == ["A", "C"])
    }

    @Test func equalNamesFoldsOnlyASCII() {
        #expect(HTTPFields.equalNames("X-Request-Id", "x-request-id"))
        #expect(!HTTPFields.equalNames("X-Request-Id", "X-Request-I"))
        #expect(!HTTPFields.equalNames("é", "É"))
    }

    @Test func requestSplitsPathAndQuery() {
        let request = HTTPRequest(method: "POST", target: "/api/v1/gateways/sessions/s1/message?board_id=a%20b&x=1+2&flag")
        #expect(request.path == "/api/v1/gateways/sessions/s1/message")
        #expect(request.query("board_id") == "a b")
        #expect(request.query("x") == "1 2")
        #expect(request.query("flag") == "")
        #expect(request.query("missing") == nil)
    }

    @Test func collectStopsPastTheLimit() throws {
        let stream = ChunkListStream([[1, 2, 3], [4, 5], [6]])
        #expect(try HTTPBody.stream(stream).collect(limit: 4) == nil)
        #expect(try HTTPBody.stream(ChunkListStream([[1], [2]])).collect(limit: 2) == [1, 2])
    }
}
