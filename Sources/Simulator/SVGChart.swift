import Foundation
import Wire

// Charts of predictions as standalone SVG files (open in any browser): every chart has a title,
// labelled axes with ticks on the 1-2-5 series, and a legend. Two kinds: admitted and refused
// requests over time (a panel per scenario, Redis outages shaded), and admissions per client
// (a panel per scenario and namespace: stacked bars for the busiest clients, a marker for the
// most each had admitted within one window, and the documented limit as a dashed line).

/// Axis scaling on the 1-2-5 series.
enum ChartScale {
    static let niceSteps: [Double] = {
        var steps: [Double] = []
        var decade = 0.001
        while decade < 1e12 {
            steps.append(decade); steps.append(2 * decade); steps.append(5 * decade)
            decade *= 10
        }
        return steps
    }()

    /// A step giving about `count` ticks over [0, maximum], and the axis end (a multiple of it).
    static func ticks(maximum: Double, count: Int = 5) -> (step: Double, end: Double) {
        let top = maximum > 0 ? maximum : 1
        let raw = top / Double(max(1, count))
        let step = niceSteps.first(where: { $0 >= raw }) ?? raw
        return (step, (top / step).rounded(.up) * step)
    }

    /// 1.5k, 2M, 0.25, 40.
    static func label(_ value: Double) -> String {
        let a = abs(value)
        if a >= 1e9 { return trim(value / 1e9) + "G" }
        if a >= 1e6 { return trim(value / 1e6) + "M" }
        if a >= 1e4 { return trim(value / 1e3) + "k" }
        return trim(value)
    }

    static func trim(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e15 { return String(Int(v)) }
        var text = String(format: "%.3f", v)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}

/// A small SVG writer.
struct SVGDocument {
    var width: Double
    var height: Double
    var body = ""

    static func n(_ v: Double) -> String { String(format: "%.1f", v) }

    mutating func text(_ x: Double, _ y: Double, _ content: String, size: Double = 12, anchor: String = "start",
                       weight: String = "normal", rotate: Double? = nil, fill: String = "#222") {
        var transform = ""
        if let rotate { transform = " transform=\"rotate(\(SVGDocument.n(rotate)) \(SVGDocument.n(x)) \(SVGDocument.n(y)))\"" }
        body += "<text x=\"\(SVGDocument.n(x))\" y=\"\(SVGDocument.n(y))\" font-size=\"\(SVGDocument.n(size))\" text-anchor=\"\(anchor)\" font-weight=\"\(weight)\" fill=\"\(fill)\"\(transform)>\(XMLText.escape(content))</text>\n"
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String = "#222", width: Double = 1, dash: String? = nil) {
        let d = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        body += "<line x1=\"\(SVGDocument.n(x1))\" y1=\"\(SVGDocument.n(y1))\" x2=\"\(SVGDocument.n(x2))\" y2=\"\(SVGDocument.n(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(SVGDocument.n(width))\"\(d)/>\n"
    }

    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, opacity: Double = 1, stroke: String? = nil) {
        let s = stroke.map { " stroke=\"\($0)\"" } ?? ""
        body += "<rect x=\"\(SVGDocument.n(x))\" y=\"\(SVGDocument.n(y))\" width=\"\(SVGDocument.n(max(0, w)))\" height=\"\(SVGDocument.n(max(0, h)))\" fill=\"\(fill)\" fill-opacity=\"\(SVGDocument.n(opacity))\"\(s)/>\n"
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 1.5, dash: String? = nil) {
        guard !points.isEmpty else { return }
        let d = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        let list = points.map { "\(SVGDocument.n($0.0)),\(SVGDocument.n($0.1))" }.joined(separator: " ")
        body += "<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(SVGDocument.n(width))\" stroke-linejoin=\"round\"\(d)/>\n"
    }

    mutating func circle(_ x: Double, _ y: Double, _ r: Double, fill: String, stroke: String = "#fff") {
        body += "<circle cx=\"\(SVGDocument.n(x))\" cy=\"\(SVGDocument.n(y))\" r=\"\(SVGDocument.n(r))\" fill=\"\(fill)\" stroke=\"\(stroke)\" stroke-width=\"1\"/>\n"
    }

    var rendered: String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(SVGDocument.n(width))" height="\(SVGDocument.n(height))" viewBox="0 0 \(SVGDocument.n(width)) \(SVGDocument.n(height))" font-family="Helvetica, Arial, sans-serif">
        <rect x="0" y="0" width="\(SVGDocument.n(width))" height="\(SVGDocument.n(height))" fill="#ffffff"/>
        \(body)</svg>

        """
    }
}

/// The charts of a simulation.
public enum SVGCharts {
    /// Draws legend entries left to right, wrapping into rows of `width`.
    static func legend(_ svg: inout SVGDocument, items: [(label: String, draw: (inout SVGDocument, Double, Double) -> Void)],
                       left: Double, top: Double, width: Double) {
        var x = left, y = top
        for item in items {
            let itemWidth = 40 + Double(item.label.count) * 6.4
            if x > left && x + itemWidth > left + width {
                x = left
                y += 22
            }
            item.draw(&svg, x, y)
            svg.text(x + 32, y, item.label, size: 11)
            x += itemWidth
        }
    }

    static let admittedColor = "#2e7d32"
    static let refusedColor = "#c62828"
    static let failOpenColor = "#ef6c00"
    static let limitColor = "#1565c0"

    struct Series {
        var label: String
        var color: String
        var dash: String?
        var values: [Double]
    }

    /// Admitted and refused requests per second over time, one panel per scenario.
    public static func timeline(_ summaries: [SimulationSummary], title: String = "Admitted and refused requests over time") -> String {
        let width = 960.0, left = 78.0, right = 24.0, panelHeight = 230.0, top = 58.0, gap = 64.0
        let legendHeight = 84.0
        let height = top + Double(summaries.count) * (panelHeight + gap) + legendHeight
        var svg = SVGDocument(width: width, height: height)
        svg.text(width / 2, 28, title, size: 18, anchor: "middle", weight: "bold")
        let plotWidth = width - left - right
        let duration = max(summaries.map { Double($0.timeline.bucketCount) * $0.timeline.bucketSeconds }.max() ?? 1, 0.001)

        // Which series exist in any scenario (namespaces with events).
        var seriesTemplate: [(ns: Int, kind: Int)] = []
        for ns in 0..<2 where summaries.contains(where: { $0.totals[ns].events > 0 }) {
            seriesTemplate.append((ns, 0)); seriesTemplate.append((ns, 1))
            if summaries.contains(where: { $0.totals[ns].failOpen > 0 }) { seriesTemplate.append((ns, 2)) }
        }
        func series(_ s: SimulationSummary) -> [Series] {
            let per = 1 / s.timeline.bucketSeconds
            return seriesTemplate.map { item in
                let name = s.namespaces[item.ns]
                let agent = item.ns == 1
                let dash: String? = agent ? "6 3" : nil
                switch item.kind {
                case 0: return Series(label: "admitted (\(name))", color: agent ? "#7cb342" : admittedColor, dash: dash, values: s.timeline.admitted[item.ns].map { Double($0) * per })
                case 1: return Series(label: "refused, 429 (\(name))", color: agent ? "#8e24aa" : refusedColor, dash: dash, values: s.timeline.refused[item.ns].map { Double($0) * per })
                default: return Series(label: "admitted while Redis was down (\(name))", color: agent ? "#ffb300" : failOpenColor, dash: dash, values: s.timeline.failOpen[item.ns].map { Double($0) * per })
                }
            }
        }
        let allSeries = summaries.map(series)
        let peak = allSeries.flatMap { $0.flatMap(\.values) }.max() ?? 1
        let (yStep, yEnd) = ChartScale.ticks(maximum: peak)
        let (xStep, _) = ChartScale.ticks(maximum: duration, count: 10)

        for (p, summary) in summaries.enumerated() {
            let y0 = top + Double(p) * (panelHeight + gap)
            let yBottom = y0 + panelHeight
            func px(_ t: Double) -> Double { left + t / duration * plotWidth }
            func py(_ v: Double) -> Double { yBottom - v / yEnd * panelHeight }
            svg.text(left, y0 - 10, summary.deployment.displayName, size: 13, weight: "bold")
            // Outages behind everything.
            for o in summary.deployment.outages {
                let a = px(max(0, o.start)), b = px(min(duration, o.end))
                svg.rect(a, y0, b - a, panelHeight, fill: failOpenColor, opacity: 0.12)
                svg.text((a + b) / 2, y0 + 14, "Redis outage", size: 10, anchor: "middle", fill: failOpenColor)
            }
            // Grid and y ticks.
            var v = 0.0
            while v <= yEnd + yStep / 2 {
                svg.line(left, py(v), left + plotWidth, py(v), stroke: "#e0e0e0")
                svg.text(left - 6, py(v) + 4, ChartScale.label(v), size: 11, anchor: "end")
                v += yStep
            }
            // x ticks.
            var t = 0.0
            while t <= duration + xStep / 2 {
                svg.line(px(t), yBottom, px(t), yBottom + 5)
                svg.text(px(t), yBottom + 18, ChartScale.label(t), size: 11, anchor: "middle")
                t += xStep
            }
            svg.line(left, y0, left, yBottom)
            svg.line(left, yBottom, left + plotWidth, yBottom)
            svg.text(left + plotWidth / 2, yBottom + 36, "time since start (s)", size: 12, anchor: "middle")
            svg.text(20, y0 + panelHeight / 2, "requests per second", size: 12, anchor: "middle", rotate: -90)
            // Steps: each bucket's value held across its width.
            let bucket = summary.timeline.bucketSeconds
            for s in allSeries[p] {
                var points: [(Double, Double)] = []
                for (i, value) in s.values.enumerated() {
                    let a = Double(i) * bucket, b = min(Double(i + 1) * bucket, duration)
                    points.append((px(a), py(value)))
                    points.append((px(b), py(value)))
                }
                svg.polyline(points, stroke: s.color, dash: s.dash)
            }
        }
        // Legend, wrapped into rows.
        var items: [(label: String, draw: (inout SVGDocument, Double, Double) -> Void)] = []
        for s in allSeries.first ?? [] {
            items.append((s.label, { doc, x, y in doc.line(x, y - 4, x + 26, y - 4, stroke: s.color, width: 2.5, dash: s.dash) }))
        }
        if summaries.contains(where: { !$0.deployment.outages.isEmpty }) {
            items.append(("Redis outage (fail-open)", { doc, x, y in doc.rect(x, y - 11, 26, 12, fill: failOpenColor, opacity: 0.12) }))
        }
        SVGCharts.legend(&svg, items: items, left: left, top: height - legendHeight + 14, width: plotWidth)
        return svg.rendered
    }

    /// Admissions of the busiest clients, one panel per scenario and namespace.
    public static func clients(_ summaries: [SimulationSummary], top: Int = 20, title: String = "Admissions per client") -> String {
        var panels: [(summary: SimulationSummary, ns: Int)] = []
        for s in summaries {
            for ns in 0..<2 where s.totals[ns].events > 0 { panels.append((s, ns)) }
        }
        let width = 960.0, left = 78.0, right = 24.0, panelHeight = 220.0, top0 = 58.0, gap = 128.0, legendHeight = 40.0
        let height = top0 + Double(max(1, panels.count)) * (panelHeight + gap) + legendHeight
        var svg = SVGDocument(width: width, height: height)
        svg.text(width / 2, 28, title, size: 18, anchor: "middle", weight: "bold")
        let plotWidth = width - left - right
        for (p, panel) in panels.enumerated() {
            let s = panel.summary, ns = panel.ns
            let active = s.clients.filter { $0[ns].events > 0 }
            let rows = active.sorted { (a: SimulationSummary.ClientRow, b: SimulationSummary.ClientRow) -> Bool in
                a[ns].events != b[ns].events ? a[ns].events > b[ns].events : a.key < b.key
            }.prefix(top)
            let y0 = top0 + Double(p) * (panelHeight + gap)
            let yBottom = y0 + panelHeight
            let window = DurationText.format(s.windows[ns])
            svg.text(left, y0 - 10, "\(s.deployment.displayName) — \(s.namespaces[ns]) (limit \(s.limits[ns]) per \(window); \(active.count == rows.count ? "\(active.count) client\(active.count == 1 ? "" : "s")" : "the \(rows.count) busiest of \(active.count) clients"))", size: 13, weight: "bold")
            let peak = Double(rows.map { $0[ns].events }.max() ?? 1)
            let (yStep, yEnd) = ChartScale.ticks(maximum: max(peak, Double(s.limits[ns])))
            func py(_ v: Double) -> Double { yBottom - v / yEnd * panelHeight }
            var v = 0.0
            while v <= yEnd + yStep / 2 {
                svg.line(left, py(v), left + plotWidth, py(v), stroke: "#e0e0e0")
                svg.text(left - 6, py(v) + 4, ChartScale.label(v), size: 11, anchor: "end")
                v += yStep
            }
            svg.line(left, y0, left, yBottom)
            svg.line(left, yBottom, left + plotWidth, yBottom)
            svg.text(20, y0 + panelHeight / 2, "requests", size: 12, anchor: "middle", rotate: -90)
            let slot = plotWidth / Double(max(1, rows.count))
            let barWidth = min(36, slot * 0.7)
            for (i, row) in rows.enumerated() {
                let cx = left + slot * (Double(i) + 0.5)
                let admitted = Double(row[ns].admitted), refused = Double(row[ns].refused)
                svg.rect(cx - barWidth / 2, py(admitted), barWidth, py(0) - py(admitted), fill: admittedColor)
                svg.rect(cx - barWidth / 2, py(admitted + refused), barWidth, py(admitted) - py(admitted + refused), fill: refusedColor)
                svg.circle(cx, py(Double(row[ns].maxPerWindow)), 4.5, fill: "#111")
                svg.line(cx, yBottom, cx, yBottom + 4)
                svg.text(cx, yBottom + 14, row.key, size: 10, anchor: "end", rotate: -40)
            }
            svg.line(left, py(Double(s.limits[ns])), left + plotWidth, py(Double(s.limits[ns])), stroke: limitColor, width: 1.5, dash: "7 4")
            svg.text(left + plotWidth - 4, py(Double(s.limits[ns])) - 5, "documented limit: \(s.limits[ns]) per \(window)", size: 11, anchor: "end", fill: limitColor)
            svg.text(left + plotWidth / 2, yBottom + gap - 36, "client (limiter key), most requests first", size: 12, anchor: "middle")
        }
        var items: [(label: String, draw: (inout SVGDocument, Double, Double) -> Void)] = [
            ("admitted", { doc, x, y in doc.rect(x + 6, y - 10, 14, 12, fill: admittedColor) }),
            ("refused (429)", { doc, x, y in doc.rect(x + 6, y - 10, 14, 12, fill: refusedColor) }),
            ("most admitted within one limiter window", { doc, x, y in doc.circle(x + 13, y - 4, 4.5, fill: "#111") }),
        ]
        items.append(("documented limit (per window)", { doc, x, y in doc.line(x, y - 4, x + 26, y - 4, stroke: limitColor, width: 1.5, dash: "7 4") }))
        SVGCharts.legend(&svg, items: items, left: left, top: height - legendHeight + 14, width: plotWidth)
        return svg.rendered
    }
}
