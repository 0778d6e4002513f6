/// Text for XML 1.0 documents (JUnit reports, SVG charts).
public enum XMLText {
    /// `text` escaped for element content, or for an attribute value quoted with `"`.
    ///
    /// Characters XML 1.0 cannot carry (C0 controls other than tab, LF and CR; U+FFFE and
    /// U+FFFF) become U+FFFD, so a server's hostile bytes cannot break the document. A carriage
    /// return is written as a reference everywhere (a parser would turn a literal one into a
    /// line feed), and in attributes line feeds and tabs are too (a parser would turn literal
    /// ones into spaces).
    public static func escape(_ text: String, attribute: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\r": out += "&#13;"
            case "\n": if attribute { out += "&#10;" } else { out.unicodeScalars.append(scalar) }
            case "\t": if attribute { out += "&#9;" } else { out.unicodeScalars.append(scalar) }
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out.unicodeScalars.append("\u{FFFD}")
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
