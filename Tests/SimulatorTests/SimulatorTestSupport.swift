import Foundation
@testable import Simulator

/// One folder per test process holds every test's directory; it is removed when the process
/// exits, so test runs leave nothing behind in the temporary folder.
private let temporaryRoot: String = {
    atexit { try? FileManager.default.removeItem(atPath: (NSTemporaryDirectory() as NSString).appendingPathComponent("mcsec-sim-\(getpid())")) }
    return (NSTemporaryDirectory() as NSString).appendingPathComponent("mcsec-sim-\(getpid())")
}()

/// A fresh temporary directory for one test.
func temporaryDirectory(_ name: String = #function) throws -> String {
    let base = (temporaryRoot as NSString).appendingPathComponent(String(UUID().uuidString.prefix(8)))
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    return base
}

/// Writes `text` to a new file and returns its path.
func writeFile(_ text: String, name: String, in directory: String) throws -> String {
    let path = (directory as NSString).appendingPathComponent(name)
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    return path
}

/// The bytes `ProfileGenerator.write` produces for `spec` in `format`.
func generatedBytes(_ spec: ProfileSpec, format: ProfileFormat = .jsonl) throws -> [UInt8] {
    let dir = try temporaryDirectory()
    let path = (dir as NSString).appendingPathComponent("p.\(format.rawValue)")
    let sink = try ByteSink(path: path)
    _ = try ProfileGenerator.write(spec: spec, format: format, to: sink)
    try sink.close()
    return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// A one-stream spec.
func spec(_ shape: ArrivalShape, process: ArrivalProcess = .regular, duration: Double, seed: UInt64 = 1,
          clients: ClientPopulation = .one(address: "10.0.0.1"), configure: (inout StreamSpec) -> Void = { _ in }) -> ProfileSpec {
    var stream = StreamSpec(name: "test", arrivals: Arrivals(shape: shape, process: process))
    stream.clients = clients
    configure(&stream)
    return ProfileSpec(seed: seed, duration: duration, streams: [stream])
}

/// A random profile over a few clients, both endpoints, all signature modes, some oversized bodies.
func randomProfile(seed: UInt64, events: Int, clients: Int, duration: Double, maxBody: Int = 2_000_000) throws -> Profile {
    var random = DeterministicRandom(seed: seed)
    var times = (0..<events).map { _ in ProfileRules.quantize(random.nextDouble() * duration) }
    times.sort()
    var list: [ProfileEvent] = []
    for t in times {
        let endpoint: Endpoint = random.nextInt(below: 3) == 0 ? .agentAuth : .webhook
        var signature = SignatureMode(rawValue: UInt8(random.nextInt(below: 4))) ?? .valid
        if endpoint == .agentAuth && signature == .none { signature = .valid }
        let body = endpoint == .webhook ? (random.nextInt(below: 10) == 0 ? 1_048_577 + random.nextInt(below: 10) : random.nextInt(below: 2000)) : 0
        list.append(ProfileEvent(time: t, client: "10.9.0.\(1 + random.nextInt(below: clients))", endpoint: endpoint,
                                 bodyBytes: min(body, maxBody), signature: signature))
    }
    return try Profile(events: list)
}
