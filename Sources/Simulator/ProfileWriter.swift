import Reference
import Wire

/// Writes profiles as JSON Lines or CSV. The output depends only on the events: times with six
/// decimals, fields in a fixed order.
public enum ProfileWriter {
    /// Writes the header (CSV) — call once before the events.
    public static func writeHeader(format: ProfileFormat, withProxyColumns: Bool, to sink: ByteSink) throws(FileError) {
        guard format == .csv else { return }
        let columns = withProxyColumns ? ProfileFormat.csvColumns : Array(ProfileFormat.csvColumns.prefix(5))
        try sink.write(columns.joined(separator: ",") + "\n")
    }

    /// A client address as the format writes it (quoted for CSV when needed; a JSON string
    /// literal for JSON Lines): encode once per client, not once per event.
    public static func encodedClient(_ client: String, format: ProfileFormat) -> [UInt8] {
        switch format {
        case .jsonl:
            var out: [UInt8] = []
            JSONText.append(client, to: &out)
            return out
        case .csv:
            return Array(CSVLine.quoted(client).utf8)
        }
    }

    @inline(__always)
    static func append(_ text: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    static func signatureText(_ signature: SignatureMode) -> StaticString {
        switch signature {
        case .valid: return "valid"
        case .missing: return "missing"
        case .invalid: return "invalid"
        case .none: return "none"
        }
    }

    /// Appends one event's line to `out`; `client` comes from `encodedClient`.
    public static func appendEvent(format: ProfileFormat, time: Double, client: UnsafeBufferPointer<UInt8>, endpoint: Endpoint, bodyBytes: Int,
                                   signature: SignatureMode, proxy: ProxyHeader?, withProxyColumns: Bool, to out: inout [UInt8]) {
        switch format {
        case .jsonl:
            append(#"{"t":"#, to: &out)
            ProfileRules.appendTime(time, to: &out)
            append(#","client":"#, to: &out)
            out.append(contentsOf: client)
            append(endpoint == .webhook ? #","endpoint":"webhook","body_bytes":"# : #","endpoint":"agent_auth","body_bytes":"#, to: &out)
            ProfileRules.appendInteger(Int64(bodyBytes), to: &out)
            append(#","signature":""#, to: &out)
            append(signatureText(signature), to: &out)
            out.append(UInt8(ascii: "\""))
            if let proxy {
                append(#","proxy_header":{"name":"#, to: &out)
                JSONText.append(proxy.name, to: &out)
                append(#","value":"#, to: &out)
                JSONText.append(proxy.value, to: &out)
                out.append(UInt8(ascii: "}"))
            }
            append("}\n", to: &out)
        case .csv:
            ProfileRules.appendTime(time, to: &out)
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: client)
            append(endpoint == .webhook ? ",webhook," : ",agent_auth,", to: &out)
            ProfileRules.appendInteger(Int64(bodyBytes), to: &out)
            out.append(UInt8(ascii: ","))
            append(signatureText(signature), to: &out)
            if withProxyColumns {
                out.append(UInt8(ascii: ","))
                if let proxy {
                    out.append(contentsOf: CSVLine.quoted(proxy.name).utf8)
                    out.append(UInt8(ascii: ","))
                    out.append(contentsOf: CSVLine.quoted(proxy.value).utf8)
                } else {
                    out.append(UInt8(ascii: ","))
                }
            }
            out.append(10)
        }
    }

    /// Writes a whole profile.
    public static func write(_ profile: Profile, format: ProfileFormat, to sink: ByteSink) throws(FileError) {
        let proxies = !profile.proxyIDs.isEmpty
        try writeHeader(format: format, withProxyColumns: proxies, to: sink)
        // Every client encoded once, into one array: no per-event string work or reference counting.
        var encoded: [UInt8] = []
        var starts: [Int] = [0]
        for client in profile.clients {
            encoded.append(contentsOf: encodedClient(client, format: format))
            starts.append(encoded.count)
        }
        var failure: FileError?
        profile.times.withUnsafeBufferPointer { times in
        profile.kinds.withUnsafeBufferPointer { kinds in
        profile.bodyBytes.withUnsafeBufferPointer { bodies in
        profile.clientIDs.withUnsafeBufferPointer { clientIDs in
        encoded.withUnsafeBufferPointer { encoded in
            for i in 0..<times.count {
                let kind = kinds[i]
                let c = Int(clientIDs[i])
                let client = UnsafeBufferPointer(rebasing: encoded[starts[c]..<starts[c + 1]])
                let proxy = proxies ? profile.proxyHeader(at: i) : nil
                do throws(FileError) {
                    try sink.withBuffer { out in
                        appendEvent(format: format, time: times[i], client: client, endpoint: kind & 1 == 0 ? .webhook : .agentAuth,
                                    bodyBytes: Int(bodies[i]), signature: SignatureMode(rawValue: (kind >> 1) & 3) ?? .none,
                                    proxy: proxy, withProxyColumns: proxies, to: &out)
                    }
                } catch {
                    failure = error
                    return
                }
            }
        }}}}}
        if let failure { throw failure }
        try sink.flush()
    }
}
