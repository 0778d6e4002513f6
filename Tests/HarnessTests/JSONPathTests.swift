import Testing
@testable import Harness
import Wire

@Suite struct JSONPathTests {
    @Test func pathsReachWildcards() throws {
        let json = try JSONValue.parse("{\"items\":[{\"id\":\"a\"},{\"id\":\"b\"}],\"total\":2}")
        #expect(JSONPath("items.*.id").values(in: json).compactMap(\.stringValue) == ["a", "b"])
        #expect(JSONPath("items.1.id").values(in: json).first?.stringValue == "b")
        #expect(JSONPath("items.5.id").values(in: json).isEmpty)
        #expect(JSONPath("").values(in: json).count == 1)
    }
}
