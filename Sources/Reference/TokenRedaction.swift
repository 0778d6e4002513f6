import Wire

/// Agent token logging and storage: on an authentication failure only a short prefix of the
/// presented token is logged (`token_prefix=abcdef`), never the whole token; tokens are kept
/// only as hashes, so neither the logs nor the store can be replayed as credentials.
public enum TokenRedaction {
    /// The most characters of a presented token a log line may carry.
    public static let prefixLength = 6

    /// The first `prefixLength` characters of `token` (all of it when shorter), for a log line.
    ///
    /// Characters are counted as Unicode scalars, as the real service slices its strings, so
    /// a crafted token of stacked combining marks cannot smuggle more into the log. The token is
    /// attacker-supplied, so control, format and whitespace characters in the prefix are logged
    /// as "?": a prefix can never break a log line or forge another field.
    public static func logPrefix(_ token: String) -> String {
        var prefix = String.UnicodeScalarView()
        for scalar in token.unicodeScalars.prefix(prefixLength) {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .spaceSeparator:
                prefix.append("?")
            default:
                prefix.append(scalar)
            }
        }
        return String(prefix)
    }

    /// How a token is stored: the lower-case hex SHA-256 of its UTF-8 bytes. Agent tokens are
    /// long random strings, so a fast unsalted hash is enough to make a leaked store useless.
    public static func hash(_ token: String) -> String {
        Hex.encode(SHA256.hash(Array(token.utf8)))
    }
}
