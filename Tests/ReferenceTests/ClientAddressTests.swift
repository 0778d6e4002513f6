import Testing
import Reference
import Wire

@Suite struct ClientAddressTests {
    static let proxies = try! TrustedProxies.parse("10.0.0.0/8, 2001:db8::/32")

    func resolve(_ peer: String?, _ headers: [(String, String)], trusted: TrustedProxies = proxies) -> String {
        ClientAddress.resolve(peer: peer, headers: HTTPFields(headers), trusted: trusted)
    }

    @Test(arguments: [
        ("1.2.3.4", "1.2.3.4"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"), ("::", "::"), ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("2001:db8::0:1", "2001:db8::1"),
        ("2001:0db8:0000:0001:0000:0000:0000:0001", "2001:db8:0:1::1"), ("1:0:0:1:0:0:0:1", "1:0:0:1::1"),
        ("::ffff:10.1.2.3", "::ffff:10.1.2.3"), ("fe80::1%eth0", "fe80::1"), ("1::", "1::"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
        ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
    ])
    func addressesParseToCanonicalText(text: String, canonical: String) {
        #expect(IPAddress(text)?.description == canonical)
    }

    @Test(arguments: ["127.0.0.1", "10.20.30.40", "0.0.0.0", "255.255.255.255", "1.2.3.4%eth0", "::ffff:127.0.0.1",
                      "2001:DB8::1", "::1"])
    func aPeerIsItsAddressInCanonicalText(peer: String) throws {
        let canonical = try #require(IPAddress(peer)).description
        #expect(ClientAddress.resolve(peer: peer, headers: HTTPFields(), trusted: .none) == canonical)
    }

    @Test(arguments: ["01.2.3.4", "1.2.3.256", "1.2.3", "1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.0004", "a.b.c.d"])
    func aPeerThatIsNoCanonicalAddressIsNotTakenAsOne(peer: String) {
        // Not an address `IPAddress` reads: never passed on as if it were one.
        #expect(IPAddress(peer) == nil)
        #expect(ClientAddress.resolve(peer: peer, headers: HTTPFields(), trusted: .none) == ServiceLog.field(peer, maxLength: 64))
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "a.b.c.d", ":::", "1:::2", "1::2::3",
                      "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", ":1::2", "1::2:", "12345::1", "g::1", "::1.2.3", "1.2.3.4::",
                      "unknown", "_hidden", " 1.2.3.4"])
    func malformedAddressesDoNotParse(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func networksContainTheirAddresses() {
        let v4 = IPNetwork("192.168.0.0/16")!
        #expect(v4.contains(IPAddress("192.168.255.1")!))
        #expect(!v4.contains(IPAddress("192.169.0.1")!))
        #expect(!v4.contains(IPAddress("::1")!))
        #expect(IPNetwork("10.1.2.3/8")!.contains(IPAddress("10.9.9.9")!))  // host bits ignored
        #expect(IPNetwork("0.0.0.0/0")!.contains(IPAddress("8.8.8.8")!))
        #expect(IPNetwork("10.0.0.7")!.contains(IPAddress("10.0.0.7")!))
        #expect(!IPNetwork("10.0.0.7")!.contains(IPAddress("10.0.0.8")!))
        #expect(IPNetwork("10.0.0.0/9")!.contains(IPAddress("10.127.0.1")!))
        #expect(!IPNetwork("10.0.0.0/9")!.contains(IPAddress("10.128.0.1")!))
        let v6 = IPNetwork("2001:db8::/32")!
        #expect(v6.contains(IPAddress("2001:db8:1234::5")!))
        #expect(!v6.contains(IPAddress("2001:db9::5")!))
        #expect(!v6.contains(IPAddress("10.0.0.1")!))
        // A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6: still inside 10.0.0.0/8.
        #expect(IPNetwork("10.0.0.0/8")!.contains(IPAddress("::ffff:10.2.3.4")!))
    }

    @Test(arguments: [
        ("2001:db8::/33", "2001:db8:7fff:ffff::1", true), ("2001:db8::/33", "2001:db8:8000::1", false),
        ("fe80::/10", "febf:ffff::1", true), ("fe80::/10", "fec0::1", false), ("fe80::/10", "fe7f::1", false),
        ("2001:db8::/127", "2001:db8::1", true), ("2001:db8::/127", "2001:db8::2", false),
        ("2001:db8::5/128", "2001:db8::5", true), ("2001:db8::5/128", "2001:db8::4", false),
        ("2001:db8:0:1::/65", "2001:db8:0:1:7fff::1", true), ("2001:db8:0:1::/65", "2001:db8:0:1:8000::", false),
        ("::/0", "2001:db8::1", true), ("::/0", "10.0.0.1", false), ("0.0.0.0/0", "2001:db8::1", false),
    ])
    func ipv6BlocksOffByteBoundaries(network: String, address: String, inside: Bool) throws {
        let block = try #require(IPNetwork(network))
        let candidate = try #require(IPAddress(address))
        #expect(block.contains(candidate) == inside)
    }

    @Test func ipv6TrustedProxyBlockDecidesWhoseHeadersAreBelieved() throws {
        let proxies = try TrustedProxies.parse("2001:db8::/33")
        #expect(resolve("2001:db8:7fff::9", [("Forwarded", "for=\"[2001:db8:cafe::17]:4711\"")], trusted: proxies) == "2001:db8:cafe::17")
        #expect(resolve("2001:db8:8000::9", [("Forwarded", "for=\"[2001:db8:cafe::17]:4711\"")], trusted: proxies) == "2001:db8:8000::9")
    }

    @Test func untrustedPeerIsTheClientWhateverItsHeadersSay() {
        let spoofed = [("Forwarded", "for=198.51.100.1"), ("X-Forwarded-For", "198.51.100.2")]
        #expect(resolve("203.0.113.9", spoofed) == "203.0.113.9")
        #expect(resolve("203.0.113.9", spoofed, trusted: .none) == "203.0.113.9")
        #expect(resolve("10.0.0.1", spoofed, trusted: .none) == "10.0.0.1")
    }

    @Test func trustedPeerWithoutProxyHeadersIsTheClient() {
        #expect(resolve("10.0.0.1", []) == "10.0.0.1")
        #expect(resolve("10.0.0.1", [("X-Forwarded-For", "")]) == "10.0.0.1")
    }

    @Test(arguments: [
        ("for=198.51.100.17", "198.51.100.17"),
        ("For=\"198.51.100.17\"", "198.51.100.17"),
        ("FOR=198.51.100.17:4711", "198.51.100.17"),
        ("for=\"198.51.100.17:4711\"", "198.51.100.17"),
        ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
        ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
        ("for=[2001:DB8:cafe::17]:4711", "2001:db8:cafe::17"),
        ("for=198.51.100.17;proto=https;by=10.0.0.1", "198.51.100.17"),
        ("proto=https;for=198.51.100.17", "198.51.100.17"),
        ("for=198.51.100.17, for=10.0.0.2", "198.51.100.17"),
        ("proto=https, for=198.51.100.17", "198.51.100.17"),
        (" for = 198.51.100.17 ", "198.51.100.17"),
        ("for=198.51.100.17:_abc", "198.51.100.17"),
        ("for=2001:db8::9", "2001:db8::9"),
    ])
    func trustedPeerForwardedLeftmostFor(header: String, expected: String) {
        #expect(resolve("10.0.0.1", [("Forwarded", header), ("X-Forwarded-For", "192.0.2.99")]) == expected)
    }

    @Test func forwardedAcrossSeveralFieldLinesTakesTheFirstLine() {
        #expect(resolve("10.0.0.1", [("Forwarded", "proto=https"), ("Forwarded", "for=192.0.2.5"), ("Forwarded", "for=192.0.2.6")]) == "192.0.2.5")
    }

    @Test(arguments: ["for=unknown", "for=_hidden", "for=\"[2001:db8::1\"", "for=1.2.3.4:99999", "for=\"1.2.3.4\\\"\"", "for=not-an-ip",
                      "for=[1.2.3.4]", "for=1.2.3.4:", "for="])
    func malformedForwardedForFallsBackToThePeer(header: String) {
        // A `for=` that names no address decides on its own: the proxy itself is the client.
        #expect(resolve("10.0.0.1", [("Forwarded", header), ("X-Forwarded-For", "192.0.2.99")]) == "10.0.0.1")
    }

    @Test func forwardedWithoutForFallsThroughToXForwardedFor() {
        #expect(resolve("10.0.0.1", [("Forwarded", "proto=https;host=example.com"), ("X-Forwarded-For", "192.0.2.99")]) == "192.0.2.99")
    }

    @Test(arguments: [
        ("192.0.2.1", "192.0.2.1"), ("192.0.2.1, 10.0.0.5", "192.0.2.1"), (" 192.0.2.1 ,10.0.0.5,10.0.0.6", "192.0.2.1"),
        (", 192.0.2.1", "192.0.2.1"), ("2001:DB8::5, 10.0.0.5", "2001:db8::5"), ("[2001:db8::5]:443", "2001:db8::5"),
        ("192.0.2.1:8080", "192.0.2.1"), ("\"192.0.2.1\"", "192.0.2.1"),
    ])
    func trustedPeerXForwardedForLeftmostEntry(header: String, expected: String) {
        #expect(resolve("10.0.0.1", [("X-Forwarded-For", header)]) == expected)
    }

    @Test(arguments: ["garbage", "unknown, 192.0.2.1", "1.2.3.4.5", "<script>"])
    func malformedXForwardedForFallsBackToThePeer(header: String) {
        #expect(resolve("10.0.0.1", [("X-Forwarded-For", header)]) == "10.0.0.1")
    }

    @Test func xForwardedForAcrossLinesUsesTheFirstNonEmptyLine() {
        #expect(resolve("10.0.0.1", [("X-Forwarded-For", " "), ("X-Forwarded-For", "192.0.2.7, 10.0.0.3")]) == "192.0.2.7")
    }

    @Test func ipv6TrustedPeerAndMappedPeer() {
        #expect(resolve("2001:db8::1", [("X-Forwarded-For", "192.0.2.8")]) == "192.0.2.8")
        #expect(resolve("::ffff:10.0.0.1", [("X-Forwarded-For", "192.0.2.8")]) == "192.0.2.8")
        #expect(resolve("2001:db9::1", [("X-Forwarded-For", "192.0.2.8")]) == "2001:db9::1")
    }

    @Test func peerTextIsCanonicalAndMissingPeerIsUnknown() {
        #expect(resolve("2001:DB8:0::7", []) == "2001:db8::7")
        #expect(resolve(nil, [("X-Forwarded-For", "192.0.2.8")]) == ClientAddress.unknownPeer)
        #expect(resolve("", []) == ClientAddress.unknownPeer)
        // A peer that is not an address (a Unix socket) stays one log-safe token.
        #expect(resolve("/run/app sock\nx=1", []) == "/run/app_sock_x_1")
    }

    @Test func trustAnyPeerIsTheBrokenVariant() {
        let headers = HTTPFields([("X-Forwarded-For", "198.51.100.2")])
        #expect(ClientAddress.resolve(peer: "203.0.113.9", headers: headers, trusted: .none, trustAnyPeer: true) == "198.51.100.2")
    }

    @Test func hugeHeaderValuesDoNotTrap() {
        let huge = String(repeating: "for=1.2.3.4;", count: 50_000)
        #expect(resolve("10.0.0.1", [("Forwarded", huge)]) == "1.2.3.4")
        let junk = String(repeating: "\"", count: 100_001)
        #expect(resolve("10.0.0.1", [("Forwarded", junk)]) == "10.0.0.1")
    }

    @Test func lenientParsingDropsBadEntries() {
        let proxies = TrustedProxies.parseLeniently("10.0.0.0/8, nonsense, ::1")
        #expect(proxies.networks.count == 2)
    }
}
