import Foundation
import Wire

/// `mcsec sign`: prints the webhook signature header for a body, for sending signed webhooks by
/// hand (`curl -H "$(mcsec sign --secret S body.json)" --data-binary @body.json …`).
enum SignCommand {
    static let defaultHeader = "X-Hub-Signature-256"

    static let usage = """
    usage: mcsec sign --secret S [--header NAME] [FILE|-]

    Prints the signature header line for the body in FILE (standard input when FILE is '-' or
    absent), exactly as a webhook sender computes it:

        X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body bytes>

    The body is read byte for byte: no trailing newline is added or removed, so sign the same
    file you send (curl --data-binary @FILE, not --data).

    options:
      --secret S      the webhook's shared secret (required)
      --header NAME   print NAME instead of X-Hub-Signature-256 (for a webhook configured with
                      its own signature header)

    """

    static func run(_ args: [String]) throws -> Int32 {
        let arguments = try Arguments(args, valued: ["secret", "header"], switches: [])
        if arguments.wantsHelp {
            print(usage, terminator: "")
            return 0
        }
        guard let secret = arguments.value("secret") else {
            throw UsageError("--secret is required: the webhook's shared secret (see 'mcsec sign --help')")
        }
        guard !secret.isEmpty else {
            throw UsageError("--secret is empty; a webhook without a secret is not signed")
        }
        let header = arguments.value("header") ?? defaultHeader
        guard isToken(header) else {
            throw UsageError("--header '\(header)' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)")
        }
        guard arguments.positionals.count <= 1 else {
            throw UsageError("give at most one FILE (or '-' for standard input), got \(arguments.positionals.count)")
        }
        let path = arguments.positionals.first ?? "-"
        var mac = HMACSHA256(key: Array(secret.utf8))
        try readBody(path) { chunk in chunk.withUnsafeBytes { mac.update($0) } }
        print("\(header): sha256=\(Hex.encode(mac.finalize()))")
        return 0
    }

    /// Streams the bytes of `path` (or standard input for "-") to `consume`, so a large body is
    /// never held in memory whole.
    static func readBody(_ path: String, _ consume: (Data) -> Void) throws {
        let handle: FileHandle
        if path == "-" {
            handle = FileHandle.standardInput
        } else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw UsageError("cannot read '\(path)': no such file")
            }
            guard !isDirectory.boolValue else {
                throw UsageError("cannot read '\(path)': it is a directory; give the body file")
            }
            do {
                handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            } catch {
                throw UsageError("cannot read '\(path)': \(error.localizedDescription)")
            }
        }
        defer { if path != "-" { try? handle.close() } }
        do {
            while let chunk = try handle.read(upToCount: 1 << 16), !chunk.isEmpty {
                consume(chunk)
            }
        } catch {
            throw UsageError("cannot read '\(path == "-" ? "standard input" : path)': \(error.localizedDescription)")
        }
    }

    /// An HTTP field name is an RFC 9110 token.
    static func isToken(_ name: String) -> Bool {
        HTTPGrammar.isToken(name)
    }
}
