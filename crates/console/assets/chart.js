// Charts on <canvas>: bars (volume per bucket) and lines (TPS, block interval), with axes and
// labels, sharp on high-density screens. Redrawn on resize.

// The theme's colours (style.css), read when drawing so a dark theme draws light on dark.
export const themeColor = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const colors = () => ['--brand', '--ok', '--warn', '--bad'].map(themeColor);

function setup(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600;
  const height = canvas.clientHeight || 220;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = '11px system-ui, sans-serif';
  return { ctx, width, height };
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function axes(ctx, width, height, max, labels, pad) {
  ctx.strokeStyle = themeColor('--line');
  ctx.fillStyle = themeColor('--muted');
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let i = 0; i <= 4; i++) {
    const y = pad.top + ((height - pad.top - pad.bottom) * i) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.left, y);
    ctx.lineTo(width - pad.right, y);
    ctx.stroke();
    const value = max - (max * i) / 4;
    ctx.fillText(Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(3))), pad.left - 6, y);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const n = labels.length;
  const plot = width - pad.left - pad.right;
  const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(plot / 60))));
  labels.forEach((l, i) => {
    if (i % every) return;
    ctx.fillText(l, pad.left + (plot * (i + 0.5)) / n, height - pad.bottom + 6);
  });
}

const PAD = { top: 12, right: 12, bottom: 24, left: 44 };

// Bars: `values[i]` over `labels[i]`.
export function barChart(canvas, labels, values, color) {
  const draw = () => {
    const { ctx, width, height } = setup(canvas);
    const max = niceMax(Math.max(0, ...values));
    axes(ctx, width, height, max, labels, PAD);
    const plot = width - PAD.left - PAD.right;
    const tall = height - PAD.top - PAD.bottom;
    const w = plot / Math.max(1, values.length);
    ctx.fillStyle = color || colors()[0];
    values.forEach((v, i) => {
      const bh = (tall * v) / max;
      ctx.fillRect(PAD.left + i * w + w * 0.15, PAD.top + tall - bh, Math.max(1, w * 0.7), bh);
    });
  };
  watch(canvas, draw);
  canvas.dataset.points = String(values.length);
  canvas.dataset.total = String(values.reduce((a, b) => a + b, 0));
}

// Lines: each series `{ values, color }` over `labels`.
export function lineChart(canvas, labels, series) {
  const draw = () => {
    const { ctx, width, height } = setup(canvas);
    const all = series.flatMap((s) => s.values);
    const max = niceMax(Math.max(0, ...all));
    axes(ctx, width, height, max, labels, PAD);
    const plot = width - PAD.left - PAD.right;
    const tall = height - PAD.top - PAD.bottom;
    series.forEach((s, k) => {
      ctx.strokeStyle = s.color || colors()[k % 4];
      ctx.lineWidth = 2;
      ctx.beginPath();
      s.values.forEach((v, i) => {
        const x = PAD.left + (plot * (i + 0.5)) / Math.max(1, s.values.length);
        const y = PAD.top + tall - (tall * v) / max;
        if (i) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
      });
      ctx.stroke();
    });
  };
  watch(canvas, draw);
  canvas.dataset.points = String(series[0]?.values.length || 0);
}

function watch(canvas, draw) {
  canvas._draw = draw;
  if (!canvas._observer && 'ResizeObserver' in window) {
    canvas._observer = new ResizeObserver(() => canvas._draw());
    canvas._observer.observe(canvas);
  }
  draw();
}

// A small line of `values` (oldest first) for a table cell: no axes; `title` says what it is.
export function sparkline(values, title, test) {
  const ns = 'http://www.w3.org/2000/svg';
  const [width, height] = [120, 24];
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', title);
  if (test) svg.dataset.test = test;
  const max = Math.max(0, ...values) || 1;
  const step = (width - 2) / Math.max(values.length - 1, 1);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', values.map((v, i) => `${(1 + i * step).toFixed(1)},${(height - 1 - (v / max) * (height - 2)).toFixed(1)}`).join(' '));
  const label = document.createElementNS(ns, 'title');
  label.textContent = title;
  svg.append(label, line);
  return svg;
}
