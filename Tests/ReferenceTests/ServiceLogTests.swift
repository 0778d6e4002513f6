import Testing
import Reference
import Wire

@Suite struct ServiceLogTests {
    @Test func keepsLinesInOrderAndEchoes() {
        let echoed = EchoSink()
        let log = ServiceLog(echo: { echoed.add($0) })
        log.write("one")
        log.write("two")
        #expect(log.lines == ["one", "two"])
        #expect(echoed.all == ["one", "two"])
        log.clear()
        #expect(log.lines.isEmpty)
    }

    @Test func isBoundedToTheMostRecentLines() {
        let log = ServiceLog()
        for i in 0..<(ServiceLog.capacity + 2500) { log.write("line \(i)") }
        let lines = log.lines
        #expect(lines.count == ServiceLog.capacity)
        #expect(lines.first == "line 2500")
        #expect(lines.last == "line \(ServiceLog.capacity + 2499)")
    }

    @Test func concurrentWritersLoseNothingUnderTheBound() async {
        let log = ServiceLog()
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<4 { group.addTask { for i in 0..<1000 { log.write("\(t)-\(i)") } } }
        }
        #expect(log.lines.count == 4000)
        #expect(Set(log.lines).count == 4000)
    }

    @Test func fieldsCannotForgeLinesOrFields() {
        #expect(ServiceLog.field("a b\nc=d\u{0}\u{2028}e") == "a_b_c_d__e")
        #expect(ServiceLog.field(String(repeating: "x", count: 500)).count == 128)
    }
}

/// Collects echoed log lines.
final class EchoSink: @unchecked Sendable {
    private let lock = Lock()
    private var lines: [String] = []
    func add(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}
