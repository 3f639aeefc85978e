// Charts of the indicator and planning pages, drawn by ECharts (served from /static/vendor).
// Each element [data-chart="trend|ranking|comparison"] names, in data-chart-data, the id of
// a <script type="application/json"> block holding its data (see templates/charts.html for
// their shape); every label in it is already in the page's language.  Names reach the
// chart as ECharts text (drawn, never parsed as HTML; tooltips are built from text nodes).
(function () {
  "use strict";
  const lang = document.documentElement.lang || "zh-CN";
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  function colours() {
    const css = getComputedStyle(document.documentElement);
    const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
    return {
      ink: v("--ink", "#1f2933"), muted: v("--muted", "#61707f"), line: v("--line", "#d9e0e6"),
      brand: v("--brand", "#b42318"), accent: v("--accent", "#1d6fb8"),
      ok: v("--ok", "#2f855a"), warn: v("--warn", "#b7791f"),
    };
  }

  function formatter(data) {
    const digits = data.digits === undefined ? 1 : data.digits;
    const number = new Intl.NumberFormat(lang, { maximumFractionDigits: digits });
    return (value) => (value === null || value === undefined || Number.isNaN(value))
      ? "—" : number.format(value);
  }

  function meets(value, target, direction) {
    if (direction === "<=") return value <= target;
    if (direction === "=") return value === target;
    return value >= target;
  }

  // The ranking's items, best first; items without a value last, in the order given.
  function ranked(data) {
    const numeric = data.items.filter((i) => typeof i.value === "number");
    const missing = data.items.filter((i) => typeof i.value !== "number");
    const sign = data.direction === "<=" ? 1 : -1;
    // Array.prototype.sort is stable: equal values keep the server's order.
    numeric.sort((a, b) => sign * (a.value - b.value));
    return numeric.concat(missing);
  }

  // A tooltip as DOM nodes: names from the data are set as text, never as markup.
  function tooltip(rows) {
    const box = document.createElement("div");
    rows.forEach((text, index) => {
      const line = document.createElement(index === 0 ? "strong" : "div");
      line.textContent = text;
      box.appendChild(line);
    });
    return box;
  }

  function targetLine(data, axis, c, fmt) {
    if (!data.target || typeof data.target.value !== "number") return undefined;
    return {
      silent: true, symbol: "none",
      lineStyle: { color: c.brand, type: "dashed", width: 2 },
      label: { formatter: `${data.target.name} ${fmt(data.target.value)}`, color: c.brand,
               // A ranking's bars run top to bottom (inverse axis): its line starts at the top.
               position: axis === "x" ? "start" : "insideEndTop" },
      data: [{ [axis === "x" ? "xAxis" : "yAxis"]: data.target.value }],
    };
  }

  function base(c, fmt) {
    return {
      animation: !reducedMotion.matches,
      color: [c.accent, c.ok, c.warn, c.brand, c.muted],
      textStyle: { color: c.ink },
      // The axes' labels and names are kept inside the chart (ECharts 6's outer bounds).
      grid: { left: 8, right: 24, top: 40, bottom: 8, outerBoundsMode: "same",
              outerBoundsContain: "all" },
      tooltip: { trigger: "axis", confine: true, axisPointer: { type: "shadow" } },
      valueAxis: {
        type: "value", axisLabel: { formatter: fmt, color: c.muted },
        splitLine: { lineStyle: { color: c.line } },
      },
    };
  }

  function trendOrComparison(data, kind, c, fmt) {
    const b = base(c, fmt);
    const line = kind === "trend";
    const series = data.series.map((s, index) => ({
      name: s.name, type: line ? "line" : "bar", data: s.values,
      connectNulls: false, symbolSize: 7, barMaxWidth: 36,
      markLine: line && index === 0 ? targetLine(data, "y", c, fmt) : undefined,
    }));
    return {
      animation: b.animation, color: b.color, textStyle: b.textStyle,
      grid: b.grid,
      legend: { top: 0, textStyle: { color: c.ink } },
      tooltip: Object.assign({}, b.tooltip, {
        axisPointer: { type: line ? "line" : "shadow" },
        formatter: (params) => tooltip([params[0].name].concat(
          params.map((p) => `${p.seriesName}: ${fmt(p.value)}${data.unit ? " " + data.unit : ""}`))),
      }),
      xAxis: { type: "category", name: data.axis, nameLocation: "middle", nameGap: 28,
               data: data.categories, axisLabel: { color: c.ink } },
      yAxis: b.valueAxis,
      series,
    };
  }

  function ranking(data, c, fmt) {
    const b = base(c, fmt);
    const items = ranked(data);
    const target = data.target && typeof data.target.value === "number" ? data.target.value : null;
    const bar = (item) => ({
      value: item.value,
      itemStyle: { color: target !== null && typeof item.value === "number"
        && !meets(item.value, target, data.direction) ? c.warn : c.accent },
    });
    return {
      animation: b.animation, textStyle: b.textStyle, grid: Object.assign({}, b.grid, { top: 32 }),
      tooltip: Object.assign({}, b.tooltip, {
        formatter: (params) => tooltip([params[0].name,
          `${data.value_name}: ${fmt(params[0].value)}${data.unit ? " " + data.unit : ""}`]),
      }),
      xAxis: b.valueAxis,
      yAxis: { type: "category", inverse: true, data: items.map((i) => i.name),
               axisLabel: { color: c.ink } },
      series: [{ name: data.value_name, type: "bar", data: items.map(bar), barMaxWidth: 22,
                 markLine: targetLine(data, "x", c, fmt) }],
    };
  }

  function height(kind, data) {
    return kind === "ranking" ? Math.max(160, 60 + 28 * data.items.length) : 320;
  }

  function draw(element) {
    const kind = element.dataset.chart;
    const block = document.getElementById(element.dataset.chartData);
    if (!block) return null;
    const data = JSON.parse(block.textContent);
    const c = colours();
    const fmt = formatter(data);
    let option;
    if (kind === "ranking") option = ranking(data, c, fmt);
    else if (kind === "trend" || kind === "comparison") option = trendOrComparison(data, kind, c, fmt);
    else return null;
    if (!element.style.height) element.style.height = `${height(kind, data)}px`;
    const chart = echarts.init(element, null, {
      renderer: "svg", locale: lang.toLowerCase().startsWith("en") ? "EN" : "ZH",
    });
    chart.setOption(option);
    element.dataset.chartDrawn = kind;
    if (window.ResizeObserver) new ResizeObserver(() => chart.resize()).observe(element);
    return chart;
  }

  function drawAll() {
    document.querySelectorAll("[data-chart]:not([data-chart-drawn])").forEach(draw);
  }

  // Someone who turns motion off while the page is open gets still charts from then on.
  reducedMotion.addEventListener("change", () => {
    document.querySelectorAll("[data-chart-drawn]").forEach((element) => {
      const chart = echarts.getInstanceByDom(element);
      if (chart) chart.setOption({ animation: !reducedMotion.matches });
    });
  });

  window.ShequCharts = { draw, drawAll };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
