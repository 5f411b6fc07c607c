/** One bar of {@link barChart}. */
export interface Bar {
  label: string;
  value: number;
  /** Shown right of the bar, e.g. "4,210 req/s · p99 3.1 ms". */
  caption: string;
  kind: 'baseline' | 'control' | 'ours' | 'peer';
}

const COLORS: Record<Bar['kind'], string> = {
  baseline: '#9e9e9e',
  control: '#cfcfcf',
  ours: '#1f6feb',
  peer: '#d9822b',
};

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A horizontal bar chart as a self-contained SVG document (no fonts or scripts to load). */
export function barChart(title: string, subtitle: string, bars: Bar[]): string {
  const labelWidth = 330;
  const plotWidth = 420;
  const captionWidth = 370;
  const barHeight = 24;
  const gap = 10;
  const top = 64;
  const width = labelWidth + plotWidth + captionWidth + 20;
  const height = top + bars.length * (barHeight + gap) + 66;
  const max = Math.max(1, ...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)));
  const ticks = niceTicks(max);
  const scale = plotWidth / (ticks[ticks.length - 1] as number);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="bold">${escape(title)}</text>`,
    `<text x="12" y="44" fill="#555">${escape(subtitle)}</text>`,
  );
  const plotBottom = top + bars.length * (barHeight + gap);
  for (const tick of ticks) {
    const x = labelWidth + tick * scale;
    out.push(
      `<line x1="${x.toFixed(1)}" y1="${top - 4}" x2="${x.toFixed(1)}" y2="${plotBottom}" stroke="#e5e5e5"/>`,
      `<text x="${x.toFixed(1)}" y="${plotBottom + 16}" text-anchor="middle" fill="#555">${tick.toLocaleString('en-US')}</text>`,
    );
  }
  out.push(
    `<text x="${labelWidth + plotWidth / 2}" y="${plotBottom + 34}" text-anchor="middle" fill="#555">requests per second (higher is better)</text>`,
  );
  const legend: Array<[Bar['kind'], string]> = [
    ['baseline', 'no auth'],
    ['control', 'control'],
    ['ours', 'kube-service-auth'],
    ['peer', 'express-oauth2-jwt-bearer'],
  ];
  legend.forEach(([kind, text], i) => {
    const x = labelWidth + i * 140;
    out.push(
      `<rect x="${x}" y="${plotBottom + 46}" width="12" height="12" fill="${COLORS[kind]}"/>`,
      `<text x="${x + 18}" y="${plotBottom + 56}" fill="#555">${escape(text)}</text>`,
    );
  });
  bars.forEach((bar, i) => {
    const y = top + i * (barHeight + gap);
    const w = Number.isFinite(bar.value) ? Math.max(1, bar.value * scale) : 0;
    out.push(
      `<text x="${labelWidth - 8}" y="${y + barHeight / 2 + 4}" text-anchor="end">${escape(bar.label)}</text>`,
      `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${COLORS[bar.kind]}"/>`,
      `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + barHeight / 2 + 4}" fill="#222">${escape(bar.caption)}</text>`,
    );
  });
  out.push('</svg>', '');
  return out.join('\n');
}

function niceTicks(max: number): number[] {
  const rough = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let t = 0; t <= max + step * 0.999; t += step) ticks.push(Math.round(t));
  return ticks;
}
