// lecun1989 demo: draw a digit and watch the 1989 net think.
//
// Everything this page needs is inside the file: the nets' weights, the test digits and the
// numbers of the architecture come from the JSON block written by demo.py; no request leaves the
// page. The code has three parts, each mirroring one Python module:
//
//   the net         model.py's Net1989.forward, one small function per layer
//   the input       predict.py's steps from an image to the 16x16 input, one function per
//                   Python function, under the same name, in the same precision
//   the page        drawing, the heat maps and bars, the strip of test digits
//
// tests/test_demo.py runs this file in headless Chromium and holds both halves to the Python
// ones: the outputs of every embedded test digit to PyTorch's, a drawn stroke's 16x16 input to
// what `lecun1989 predict` makes of the same stroke saved as a PNG.

"use strict";

const DATA = JSON.parse(document.getElementById("lecun1989-data").textContent);
const G = DATA.geometry;     // geometry.py: sides, maps, H2_BLOCKS, padding, the scaled tanh
const P = DATA.prepare;      // predict.py: the constants of its steps

// Math.fround rounds a double to the nearest float32: with it, one float32 operation of numpy
// is one double operation followed by fround (exact for + - * /, whose double result rounds to
// the correctly rounded float32).
const f32 = Math.fround;

function decodeFloats(base64) {
  // little-endian float32, as demo.py writes them (every browser engine is little-endian)
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

// =============================================================================================
// The net (model.py). Maps are flat arrays, map by map, row by row, as torch lays them out.
// =============================================================================================

const ACTIVATIONS = {
  tanh: Math.tanh,
  relu: (a) => (a > 0 ? a : (a === a ? 0 : a)),          // NaN passes through, as in torch
  "scaled-tanh": (a) => G.SCALED_TANH_A * Math.tanh(G.SCALED_TANH_S * a),
};

// model.head_fn: a linear head gives logits; a tanh head squashes with the hidden units' tanh
// when that is the scaled tanh, else with the plain tanh.
function headFn(cfg) {
  if (cfg.head === "linear") return null;
  return cfg.activation === "scaled-tanh" ? ACTIVATIONS["scaled-tanh"] : Math.tanh;
}

// F.pad(x, (PAD, PAD, PAD, PAD), "constant", BACKGROUND): each map framed with the background -1
function pad(x, maps, side) {
  const s = side + 2 * G.PAD;
  const out = new Float64Array(maps * s * s).fill(G.BACKGROUND);
  for (let m = 0; m < maps; m++)
    for (let y = 0; y < side; y++)
      for (let xx = 0; xx < side; xx++)
        out[(m * s + y + G.PAD) * s + xx + G.PAD] = x[(m * side + y) * side + xx];
  return out;
}

// One output unit of a strided 5x5 convolution over the padded input maps `inMaps` (indices of
// maps of `x`, side `s`), with kernel `w` starting at `w0` (one 5x5 slice per input map).
function convUnit(x, s, inMaps, w, w0, oy, ox) {
  const K = G.KERNEL;
  let sum = 0;
  for (let k = 0; k < inMaps.length; k++)
    for (let ky = 0; ky < K; ky++)
      for (let kx = 0; kx < K; kx++)
        sum += w[w0 + (k * K + ky) * K + kx] * x[(inMaps[k] * s + oy * G.STRIDE + ky) * s + ox * G.STRIDE + kx];
  return sum;
}

// H1: (12, 8, 8) = act(conv2d(pad(x), H1w, stride 2) + H1b); H1w (12, 1, 5, 5), H1b a bias per unit
function layerH1(net, x) {
  const side = G.H1_SIDE, s = G.IMAGE + 2 * G.PAD, KK = G.KERNEL * G.KERNEL;
  const xp = pad(x, 1, G.IMAGE);
  const h1 = new Float64Array(G.H1_MAPS * side * side);
  for (let m = 0; m < G.H1_MAPS; m++)
    for (let y = 0; y < side; y++)
      for (let xx = 0; xx < side; xx++) {
        const u = (m * side + y) * side + xx;
        h1[u] = net.act(convUnit(xp, s, [0], net.w.H1w, m * KK, y, xx) + net.w.H1b[u]);
      }
  return h1;
}

// H2: (12, 4, 4) = act(block convolutions of pad(H1) per H2_BLOCKS + H2b); H2w (12, 8, 5, 5):
// output maps lo..hi-1 of a block see the H1 maps of its ranges, in that order
function layerH2(net, h1) {
  const side = G.H2_SIDE, s = G.H1_SIDE + 2 * G.PAD, KK = G.KERNEL * G.KERNEL;
  const hp = pad(h1, G.H1_MAPS, G.H1_SIDE);
  const h2 = new Float64Array(G.H2_MAPS * side * side);
  for (const [lo, hi, ranges] of G.H2_BLOCKS) {
    const inMaps = [];
    for (const [a, b] of ranges) for (let m = a; m < b; m++) inMaps.push(m);
    for (let m = lo; m < hi; m++)
      for (let y = 0; y < side; y++)
        for (let xx = 0; xx < side; xx++) {
          const u = (m * side + y) * side + xx;
          h2[u] = net.act(convUnit(hp, s, inMaps, net.w.H2w, m * G.H2_FAN_MAPS * KK, y, xx) + net.w.H2b[u]);
        }
  }
  return h2;
}

// x @ W + b for a row vector x (n) and W (n, m), then f (if any)
function dense(x, W, b, m, f) {
  const out = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += x[i] * W[i * m + j];
    out[j] = f ? f(sum + b[j]) : sum + b[j];
  }
  return out;
}

// H3: (30) = act(flatten(H2) @ H3w + H3b); H3w (192, 30). Dropout is off at inference.
function layerH3(net, h2) {
  return dense(h2, net.w.H3w, net.w.H3b, G.H3_UNITS, net.act);
}

// output: (10) = head(H3 @ outw + outb); outw (30, 10)
function layerOut(net, h3) {
  return dense(h3, net.w.outw, net.w.outb, G.OUTPUTS, net.head);
}

// predict.scores: softmax probabilities for a linear head, the tanh outputs for a tanh head
function scoresOf(net, out) {
  if (net.cfg.head !== "linear") return Array.from(out);
  const top = Math.max(...out);
  const e = Array.from(out, (v) => Math.exp(v - top));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

// Net1989.forward, keeping every layer for the page
function forward(net, x) {
  const h1 = layerH1(net, x);
  const h2 = layerH2(net, h1);
  const h3 = layerH3(net, h2);
  const out = layerOut(net, h3);
  return { x, h1, h2, h3, out, scores: scoresOf(net, out) };
}

// the three best digits, each with its score and its margin over the next one; the paper rejects
// a digit when the margin of the best over the second is small (LeCun et al. 1989, section 5)
function top3(scores) {
  const order = scores.map((s, d) => [s, d]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  return order.slice(0, 3).map(([s, d], i) => ({ digit: d, score: s, margin: s - order[i + 1][0] }));
}

function loadNet(spec) {
  const w = {};
  for (const [name, p] of Object.entries(spec.weights)) w[name] = decodeFloats(p.data);
  return { ...spec, w, act: ACTIVATIONS[spec.cfg.activation], head: headFn(spec.cfg) };
}

// =============================================================================================
// The input (predict.py): an image -> the 16x16 input, the same steps in the same precision.
// An image here is {h, w, v}: v a Float32Array of h * w values, row by row.
// =============================================================================================

class ImageError extends Error {}

// PIL's convert("L") (ITU-R 601-2 luma in integers), then / 255 in float32 (predict.read_grey).
// The drawing canvas is opaque, so the composite onto white paper has nothing to do.
function greyOfRGBA(rgba, h, w) {
  const v = new Float32Array(h * w);
  for (let i = 0; i < h * w; i++) {
    const L = (rgba[4 * i] * 19595 + rgba[4 * i + 1] * 38470 + rgba[4 * i + 2] * 7471 + 0x8000) >> 16;
    v[i] = f32(L / 255);
  }
  return { h, w, v };
}

function roundHalfEven(x) {            // Python's round() and numpy's rint
  const f = Math.floor(x), d = x - f;
  if (d !== 0.5) return d < 0.5 ? f : f + 1;
  return f % 2 === 0 ? f : f + 1;
}

// The k-th smallest of v and the next one (sorted[k], sorted[k + 1]), by selection on a copy:
// the same values a sort gives, in linear time (a sort of the 50,176 pixels took 10 ms a frame)
function orderStats(v, k) {
  const a = Float32Array.from(v);
  let lo = 0, hi = a.length - 1;
  while (lo < hi) {                     // Hoare's selection: a[k] ends where a sort would put it
    const pivot = a[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (k <= j) hi = j; else if (k >= i) lo = i; else break;
  }
  let next = Infinity;                  // everything after position k is >= a[k]: its minimum
  for (let i = k + 1; i < a.length; i++) if (a[i] < next) next = a[i];
  return [a[k], next];
}

// np.median of float32 values: the middle one, or the float32 mean of the middle two
function medianF32(v) {
  const n = v.length;
  if (n % 2) return orderStats(v, n >> 1)[0];
  const [a, b] = orderStats(v, (n >> 1) - 1);
  return f32(f32(a + b) / 2);
}

// np.percentile(v, q) of float32 values (method "linear", q a Python float): the index
// (n - 1) * q / 100 in float64, the interpolation between its neighbours in float32
function percentileF32(v, q) {
  const n = v.length, vi = (n - 1) * (q / 100);
  if (vi >= n - 1) return orderStats(v, n - 1)[0];
  const lo = Math.floor(vi), g = vi - lo;
  const [a, b] = orderStats(v, lo), d = f32(b - a);
  return g < 0.5 ? f32(a + f32(d * f32(g))) : f32(b - f32(d * f32(1 - g)));
}

// predict.ink_of: the paper is the median of the border frame; the ink is the distance from it,
// stretched so that the strongest ink (a high percentile) is 1; faint noise becomes paper
function ink_of(img) {
  const { h, w, v: g } = img;
  const k = Math.max(1, Math.floor(Math.min(h, w) / P.FRAME_DIVISOR));
  const frame = [];                     // g[:k], g[-k:], g[:, :k], g[:, -k:], as numpy concatenates them
  for (let y = 0; y < k; y++) for (let x = 0; x < w; x++) frame.push(g[y * w + x]);
  for (let y = h - k; y < h; y++) for (let x = 0; x < w; x++) frame.push(g[y * w + x]);
  for (let y = 0; y < h; y++) for (let x = 0; x < k; x++) frame.push(g[y * w + x]);
  for (let y = 0; y < h; y++) for (let x = w - k; x < w; x++) frame.push(g[y * w + x]);
  const paper = medianF32(frame);
  const ink = new Float32Array(h * w);
  let max = 0;
  for (let i = 0; i < h * w; i++) {
    const d = paper >= 0.5 ? f32(paper - g[i]) : f32(g[i] - paper);   // dark on light, or the reverse
    ink[i] = d > 0 ? d : 0;
    if (ink[i] > max) max = ink[i];
  }
  let top = ink.length > P.PERCENTILE_MIN_PIXELS ? percentileF32(ink, P.TOP_PERCENTILE) : max;
  top = Math.max(top, max * 0.5);
  if (top < P.MIN_CONTRAST) throw new ImageError("no ink found (the image is blank or has almost no contrast)");
  const noise = f32(P.NOISE_FLOOR);     // numpy compares float32 values with the float32 constant
  for (let i = 0; i < h * w; i++) {
    const s = f32(ink[i] / f32(top));
    ink[i] = s < noise ? 0 : Math.min(s, 1);
  }
  return { h, w, v: ink };
}

// predict.crop_to_ink: the rows and columns that hold ink
function crop_to_ink(ink) {
  const { h, w, v } = ink, th = f32(P.INK_THRESHOLD);
  let r0 = h, r1 = -1, c0 = w, c1 = -1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (v[y * w + x] >= th) {
        if (y < r0) r0 = y;
        if (y > r1) r1 = y;
        if (x < c0) c0 = x;
        if (x > c1) c1 = x;
      }
  if (r1 < 0) throw new ImageError("no ink found");
  const bh = r1 - r0 + 1, bw = c1 - c0 + 1, out = new Float32Array(bh * bw);
  for (let y = 0; y < bh; y++)
    for (let x = 0; x < bw; x++) out[y * bw + x] = v[(r0 + y) * w + c0 + x];
  return { h: bh, w: bw, v: out };
}

// predict._axis_weights: the triangle filter of an antialiased bilinear resize, float64
function _axis_weights(nIn, nOut) {
  const scale = nIn / nOut, support = Math.max(scale, 1);
  const rows = [];
  for (let i = 0; i < nOut; i++) {
    const centre = scale * (i + 0.5);
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), nIn);
    const w = [];
    let total = 0;
    for (let j = lo; j < hi; j++) w.push(Math.max(0, 1 - Math.abs((j - centre + 0.5) / support)));
    for (const x of w) total += x;
    rows.push([lo, w.map((x) => x / total)]);
  }
  return rows;
}

// predict._resize_rows: the last axis of a float64 (h, w) array resized to nOut, tap by tap
function _resize_rows(a, h, w, nOut) {
  const rows = _axis_weights(w, nOut), out = new Float64Array(h * nOut);
  for (let y = 0; y < h; y++)
    for (let i = 0; i < nOut; i++) {
      const [lo, wt] = rows[i];
      let sum = 0;
      for (let j = 0; j < wt.length; j++) sum += a[y * w + lo + j] * wt[j];
      out[y * nOut + i] = sum;
    }
  return out;
}

function transpose(a, h, w) {
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[x * h + y] = a[y * w + x];
  return out;
}

// predict._resize: width, then height, in float64; clipped to [0, 1], float32
function _resize(img, nh, nw) {
  const across = _resize_rows(Float64Array.from(img.v), img.h, img.w, nw);       // (h, nw)
  const down = _resize_rows(transpose(across, img.h, nw), nw, img.h, nh);        // (nw, nh)
  const out = Float32Array.from(transpose(down, nw, nh), (x) => Math.min(Math.max(x, 0), 1));
  return { h: nh, w: nw, v: out };
}

// predict.mnist_field: the ink fitted into the 20x20 box, its centre of mass put at the centre
// of the 28x28 field; uint8 grey levels
function mnist_field(box) {
  const S = P.MNIST_SIDE, scale = P.MNIST_BOX / Math.max(box.h, box.w);
  const nh = Math.max(1, roundHalfEven(box.h * scale)), nw = Math.max(1, roundHalfEven(box.w * scale));
  const small = _resize(box, nh, nw);
  let total = 0, sy = 0, sx = 0;        // in row order, float64, as predict.py sums them
  for (let y = 0; y < nh; y++)
    for (let x = 0; x < nw; x++) {
      const v = small.v[y * nw + x];
      total += v;
      sy += y * v;
      sx += x * v;
    }
  const cy = total > 0 ? sy / total : (nh - 1) / 2, cx = total > 0 ? sx / total : (nw - 1) / 2;
  const centre = (S - 1) / 2;
  const top = Math.min(Math.max(roundHalfEven(centre - cy), 0), S - nh);
  const left = Math.min(Math.max(roundHalfEven(centre - cx), 0), S - nw);
  const field = new Uint8Array(S * S);
  for (let y = 0; y < nh; y++)
    for (let x = 0; x < nw; x++) field[(top + y) * S + left + x] = roundHalfEven(f32(small.v[y * nw + x] * 255));
  return field;
}

// data.to16: uint8 grey / 127.5 - 1 in float32, then bilinear 28 -> 16 (align_corners=False),
// torch's upsample_bilinear2d; torch rounds its sums in float32, so this agrees to ~1e-7
function to16(field) {
  const S = P.MNIST_SIDE, N = G.IMAGE;
  const x = Float32Array.from(field, (u) => f32(f32(u / 127.5) - 1));
  const scale = f32(S / N), taps = [];
  for (let i = 0; i < N; i++) {
    let src = f32(f32(scale * (i + 0.5)) - 0.5);
    if (src < 0) src = 0;
    const i0 = Math.min(Math.floor(src), S - 1), i1 = i0 < S - 1 ? i0 + 1 : i0;
    const l1 = Math.min(Math.max(f32(src - i0), 0), 1);
    taps.push([i0, i1, f32(1 - l1), l1]);
  }
  const out = new Float32Array(N * N);
  for (let oy = 0; oy < N; oy++) {
    const [y0, y1, a0, a1] = taps[oy];
    for (let ox = 0; ox < N; ox++) {
      const [x0, x1, b0, b1] = taps[ox];
      const t0 = x[y0 * S + x0] * b0 + x[y0 * S + x1] * b1;
      const t1 = x[y1 * S + x0] * b0 + x[y1 * S + x1] * b1;
      out[oy * N + ox] = f32(t0 * a0 + t1 * a1);
    }
  }
  return out;
}

// predict.to_input: the cropped ink -> the 16x16 input in [-1, 1]
function to_input(box, normalisation) {
  if (normalisation === "mnist") return to16(mnist_field(box));
  if (normalisation === "usps") return Float32Array.from(_resize(box, G.IMAGE, G.IMAGE).v, (v) => f32(f32(v * 2) - 1));
  throw new Error("unknown normalisation " + normalisation);
}

// predict.prepare, from grey levels instead of a file
function prepare(img, normalisation) {
  return to_input(crop_to_ink(ink_of(img)), normalisation);
}

// =============================================================================================
// The page
// =============================================================================================

const DRAW_SIDE = 224;                 // the drawing's pixels (its on-screen size is set by CSS)
const PEN_WIDTH = 18;                  // about the stroke of an MNIST digit: 1/8 of the ink's height
const INK_COLOUR = "#1b2a6b";          // blue-black ink on white paper
const NET_COLOURS = ["#d95f02", "#7570b3", "#1b9e77", "#e7298a"];

const nets = DATA.nets.map(loadNet);
const strip = {
  n: DATA.strip.n,
  labels: Array.from(DATA.strip.labels, Number),
  x: decodeFloats(DATA.strip.x),
};
const digitAt = (i) => strip.x.subarray(i * G.IMAGE * G.IMAGE, (i + 1) * G.IMAGE * G.IMAGE);

const state = {
  strokes: [],                         // each a list of [x, y] in drawing pixels
  drawing: false,
  selected: null,                      // index of the test digit on show, or null
  mistakeCursor: nets.map(() => -1),
  pending: false,
  pointerType: null,
  timings: [],                         // ms per update after a drawn change
  last: null,                          // what the nets saw last: {source, inputs, results}
};

const $ = (id) => document.getElementById(id);
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// -- colours: a diverging map, blue below zero, white at zero, red above, as [r, g, b]
function heat(v, lo, hi) {
  const t = v >= 0 ? Math.min(v / (hi || 1), 1) : -Math.min(v / (lo || -1), 1);
  return t >= 0
    ? [247 + (178 - 247) * t, 247 + (24 - 247) * t, 247 + (43 - 247) * t]
    : [247 + (33 - 247) * -t, 247 + (102 - 247) * -t, 247 + (172 - 247) * -t];
}
// the input as the net sees it: -1 paper (white), +1 ink (black)
function grey(v) {
  const c = Math.round((1 - Math.max(-1, Math.min(1, v))) * 127.5);
  return [c, c, c];
}
const css = ([r, g, b]) => `rgb(${r | 0},${g | 0},${b | 0})`;

// the colour scale of a layer: the activation's range for tanh units; for ReLU units, which have
// no top, the largest value of a bright digit (the 90th percentile, over the strip's digits, of
// each digit's largest value in that layer), fixed so that one drawing compares with another
function layerRange(net, key) {
  if (net.cfg.activation === "tanh") return [-1, 1];
  if (net.cfg.activation === "scaled-tanh") return [-G.SCALED_TANH_A, G.SCALED_TANH_A];
  const peaks = net.stripResults.map((r) => Math.max(...r[key])).sort((a, b) => a - b);
  const hi = peaks[Math.min(peaks.length - 1, Math.floor(0.9 * peaks.length))] || 1;
  return [-hi, hi];
}

// maps drawn side by side in rows of `cols`, each unit a `unit`-pixel square, written as pixels
// (fillRect with a colour string per unit took a few ms a frame)
function drawMaps(canvas, values, maps, side, unit, cols, range) {
  const gap = 5, rows = Math.ceil(maps / cols), mapPx = side * unit;
  const W = cols * mapPx + (cols - 1) * gap, H = rows * mapPx + (rows - 1) * gap;
  if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
  const ctx = canvas.getContext("2d"), im = ctx.createImageData(W, H), px = im.data;
  for (let m = 0; m < maps; m++) {
    const ox = (m % cols) * (mapPx + gap), oy = Math.floor(m / cols) * (mapPx + gap);
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++) {
        const v = values ? values[(m * side + y) * side + x] : range ? 0 : G.BACKGROUND;   // nothing: white
        const [r, g, b] = range ? heat(v, range[0], range[1]) : grey(v);
        for (let dy = 0; dy < unit; dy++)
          for (let dx = 0; dx < unit; dx++) {
            const i = 4 * ((oy + y * unit + dy) * W + ox + x * unit + dx);
            px[i] = r; px[i + 1] = g; px[i + 2] = b; px[i + 3] = 255;
          }
      }
  }
  ctx.putImageData(im, 0, 0);
}

// vertical bars from a zero line; labels under them when given
function drawBars(canvas, values, range, labels, highlight) {
  const n = values.length, barW = labels ? 30 : 10, gap = labels ? 6 : 2, labelH = labels ? 16 : 0;
  canvas.width = n * (barW + gap) - gap;
  canvas.height = 70 + labelH;
  const ctx = canvas.getContext("2d"), H = 70;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const [lo, hi] = range, zero = hi === lo ? H : H * hi / (hi - lo);
  ctx.fillStyle = "#ccc";
  ctx.fillRect(0, Math.round(zero), canvas.width, 1);
  for (let i = 0; i < n; i++) {
    const v = Math.max(lo, Math.min(hi, values[i])), y = H * (hi - v) / (hi - lo);
    ctx.fillStyle = i === highlight ? "#b2182b" : v >= 0 ? "#d6604d" : "#4393c3";
    ctx.fillRect(i * (barW + gap), Math.min(y, zero), barW, Math.max(1, Math.abs(zero - y)));
    if (labels) {
      ctx.fillStyle = "#222";
      ctx.font = "13px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(labels[i], i * (barW + gap) + barW / 2, H + 13);
    }
  }
}

// -- the net cards
function buildCard(net, k) {
  const card = el("article", { class: "net", id: `net-${k}` });
  card.style.setProperty("--net", NET_COLOURS[k % NET_COLOURS.length]);
  const mistakes = el("button", { type: "button", class: "mistakes", id: `mistakes-${k}` });
  card.append(
    el("h2", { text: net.label }),
    el("p", { class: "what", text: net.what }),
    el("div", { class: "answer-row" },
      el("div", { class: "answer", id: `answer-${k}`, text: "?" }),
      el("table", { class: "top3", id: `top3-${k}` }),
      el("figure", { class: "input" }, el("canvas", { id: `input-${k}` }),
        el("figcaption", { text: "16x16 input" }))),
    el("p", { class: "note", id: `note-${k}` }),
    el("h3", { text: `H1: ${G.H1_MAPS} maps of ${G.H1_SIDE}x${G.H1_SIDE}` }),
    el("canvas", { class: "maps", id: `h1-${k}` }),
    el("h3", { text: `H2: ${G.H2_MAPS} maps of ${G.H2_SIDE}x${G.H2_SIDE}` }),
    el("canvas", { class: "maps", id: `h2-${k}` }),
    el("h3", { text: `H3: ${G.H3_UNITS} units` }),
    el("canvas", { class: "bars", id: `h3-${k}` }),
    el("h3", { text: net.cfg.head === "linear" ? "outputs (softmax)" : "outputs (tanh)" }),
    el("canvas", { class: "bars", id: `out-${k}` }),
    el("p", { class: "scale", id: `scale-${k}` }),
    mistakes,
    el("p", { class: "cursor", id: `cursor-${k}` }),
  );
  const rows = el("table", { class: "facts" });
  for (const [key, value] of net.provenance) rows.append(el("tr", {}, el("th", { text: key }), el("td", { text: value })));
  card.append(el("details", { class: "provenance" }, el("summary", { text: "counts and where it came from" }), rows));
  mistakes.addEventListener("click", () => nextMistake(k));
  return card;
}

// one line under the drawing with every net's answer, for screens too narrow to show the cards
// beside it
function showSummary(results) {
  $("summary").replaceChildren(...results.map((r, k) => {
    const chip = el("span", {}, `${nets[k].short}: `, el("b", { text: r ? String(top3(r.scores)[0].digit) : "?" }));
    chip.style.setProperty("--net", NET_COLOURS[k % NET_COLOURS.length]);
    return chip;
  }));
}

function showResult(k, r) {
  const net = nets[k];
  const t3 = top3(r.scores);
  $(`answer-${k}`).textContent = String(t3[0].digit);
  const table = $(`top3-${k}`);
  table.replaceChildren(el("tr", {}, el("th", { text: "digit" }), el("th", { text: "score" }), el("th", { text: "margin" })));
  for (const t of t3) table.append(el("tr", {}, el("td", { text: String(t.digit) }),
    el("td", { text: t.score.toFixed(3) }), el("td", { text: t.margin.toFixed(3) })));
  drawMaps($(`input-${k}`), r.x, 1, G.IMAGE, 6, 1, null);
  drawMaps($(`h1-${k}`), r.h1, G.H1_MAPS, G.H1_SIDE, 7, 6, net.ranges.h1);
  drawMaps($(`h2-${k}`), r.h2, G.H2_MAPS, G.H2_SIDE, 14, 6, net.ranges.h2);
  drawBars($(`h3-${k}`), r.h3, net.ranges.h3, null, -1);
  const outRange = net.cfg.head === "linear" ? [0, 1] : [-1, 1];
  drawBars($(`out-${k}`), r.scores, outRange, [...Array(G.OUTPUTS).keys()].map(String), t3[0].digit);
  $(`note-${k}`).textContent = "";
}

function showNothing(k, message) {
  $(`answer-${k}`).textContent = "?";
  $(`top3-${k}`).replaceChildren();
  $(`note-${k}`).textContent = message;
  drawMaps($(`input-${k}`), null, 1, G.IMAGE, 6, 1, null);
  for (const [key, maps, side, unit] of [["h1", G.H1_MAPS, G.H1_SIDE, 7], ["h2", G.H2_MAPS, G.H2_SIDE, 14]])
    drawMaps($(`${key}-${k}`), null, maps, side, unit, 6, [-1, 1]);
  drawBars($(`h3-${k}`), new Array(G.H3_UNITS).fill(0), [-1, 1], null, -1);
  drawBars($(`out-${k}`), new Array(G.OUTPUTS).fill(0), [0, 1], [...Array(G.OUTPUTS).keys()].map(String), -1);
}

// -- drawing
const canvas = $("draw");
canvas.width = canvas.height = DRAW_SIDE;
const ctx = canvas.getContext("2d", { willReadFrequently: true });

function paint() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, DRAW_SIDE, DRAW_SIDE);
  ctx.strokeStyle = ctx.fillStyle = INK_COLOUR;
  ctx.lineWidth = PEN_WIDTH;
  ctx.lineCap = ctx.lineJoin = "round";
  for (const s of state.strokes) {
    ctx.beginPath();
    if (s.length === 1) {
      ctx.arc(s[0][0], s[0][1], PEN_WIDTH / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    ctx.moveTo(s[0][0], s[0][1]);
    for (const [x, y] of s.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }
}

// a test digit shown in the drawing area: its 16x16 input, one square per pixel
function paintDigit(x) {
  const u = DRAW_SIDE / G.IMAGE;
  for (let y = 0; y < G.IMAGE; y++)
    for (let xx = 0; xx < G.IMAGE; xx++) {
      ctx.fillStyle = css(grey(x[y * G.IMAGE + xx]));
      ctx.fillRect(xx * u, y * u, u, u);
    }
}

// a pointer position in drawing pixels (the box's border is not part of the drawing)
function pointAt(e) {
  const r = canvas.getBoundingClientRect();
  return [(e.clientX - r.left - canvas.clientLeft) * DRAW_SIDE / canvas.clientWidth,
          (e.clientY - r.top - canvas.clientTop) * DRAW_SIDE / canvas.clientHeight];
}

canvas.addEventListener("pointerdown", (e) => {
  e.preventDefault();
  if (state.selected !== null) { state.selected = null; state.strokes = []; markSelected(); }
  canvas.setPointerCapture(e.pointerId);  // the stroke goes on if the pen leaves the box
  state.drawing = true;
  state.pointerType = e.pointerType;      // mouse, touch or pen: all draw the same way
  state.strokes.push([pointAt(e)]);
  changed();
});
canvas.addEventListener("pointermove", (e) => {
  if (!state.drawing) return;
  const stroke = state.strokes[state.strokes.length - 1];
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
  for (const c of events.length ? events : [e]) stroke.push(pointAt(c));
  changed();
});
for (const type of ["pointerup", "pointercancel"])
  canvas.addEventListener(type, () => { if (state.drawing) { state.drawing = false; changed(); } });

$("clear").addEventListener("click", () => { state.strokes = []; state.selected = null; markSelected(); changed(); });
$("undo").addEventListener("click", () => {
  if (state.selected !== null) { state.selected = null; markSelected(); } else state.strokes.pop();
  changed();
});

// the nets follow the drawing at most once a frame
function changed() {
  if (state.pending) return;
  state.pending = true;
  requestAnimationFrame(() => { state.pending = false; update(); });
}

// the drawing -> each net's input -> each net's layers -> the page; timed for the test
function update() {
  const t0 = performance.now();
  paint();
  const img = greyOfRGBA(ctx.getImageData(0, 0, DRAW_SIDE, DRAW_SIDE).data, DRAW_SIDE, DRAW_SIDE);
  const inputs = {}, results = [];
  let problem = null;
  for (const net of nets) {
    try {
      if (!inputs[net.normalisation]) inputs[net.normalisation] = prepare(img, net.normalisation);
      results.push(forward(net, inputs[net.normalisation]));
    } catch (err) {
      if (!(err instanceof ImageError)) throw err;
      problem = err.message;
      results.push(null);
    }
  }
  results.forEach((r, k) => (r ? showResult(k, r) : showNothing(k, state.strokes.length ? problem : "draw a digit")));
  $("status").textContent = state.strokes.length ? "your drawing" : "draw a digit in the box";
  showSummary(results);
  state.last = { source: "drawing", inputs, results };
  state.timings.push(performance.now() - t0);
}

function showTestDigit(i) {
  state.selected = i;
  state.strokes = [];
  state.drawing = false;
  const x = digitAt(i);
  paintDigit(x);
  const results = nets.map((net, k) => {
    const r = net.stripResults[i];
    showResult(k, r);
    return r;
  });
  const verdicts = nets.map((net, k) => `${net.short} ${net.stripPredictions[i] === strip.labels[i] ? "right" : "wrong"}`);
  $("status").textContent = `test digit #${i}: true label ${strip.labels[i]} (${verdicts.join(", ")})`;
  showSummary(results);
  state.last = { source: "test digit", inputs: { strip: x }, results };
  markSelected();
}

// -- the strip of test digits
function buildStrip() {
  const box = $("strip");
  for (let i = 0; i < strip.n; i++) {
    const c = el("canvas", { width: G.IMAGE, height: G.IMAGE });
    const g = c.getContext("2d"), im = g.createImageData(G.IMAGE, G.IMAGE), x = digitAt(i);
    for (let p = 0; p < x.length; p++) {
      const v = Math.round((1 - Math.max(-1, Math.min(1, x[p]))) * 127.5);
      im.data.set([v, v, v, 255], 4 * p);
    }
    g.putImageData(im, 0, 0);
    const marks = el("span", { class: "marks" });
    nets.forEach((net, k) => {
      if (net.stripPredictions[i] !== strip.labels[i]) {
        const m = el("i", { title: `${net.short} says ${net.stripPredictions[i]}` });
        m.style.background = NET_COLOURS[k % NET_COLOURS.length];
        marks.append(m);
      }
    });
    const cell = el("button", { type: "button", class: "cell", id: `digit-${i}`, title: `test digit #${i}` },
      c, el("span", { class: "label", text: String(strip.labels[i]) }), marks);
    cell.addEventListener("click", () => showTestDigit(i));
    box.append(cell);
  }
}

function markSelected() {
  for (const c of document.querySelectorAll("#strip .cell.on")) c.classList.remove("on");
  if (state.selected !== null) $(`digit-${state.selected}`).classList.add("on");
}

// "show me its mistakes": the next strip digit this net gets wrong, round and round
function nextMistake(k) {
  const wrong = nets[k].mistakes;
  if (!wrong.length) { $(`cursor-${k}`).textContent = "no mistakes on these digits"; return; }
  state.mistakeCursor[k] = (state.mistakeCursor[k] + 1) % wrong.length;
  const i = wrong[state.mistakeCursor[k]];
  showTestDigit(i);
  $(`digit-${i}`).scrollIntoView({ block: "nearest", inline: "center" });
  $(`cursor-${k}`).textContent = `mistake ${state.mistakeCursor[k] + 1} of ${wrong.length}: ` +
    `#${i} is a ${strip.labels[i]}, the net says ${nets[k].stripPredictions[i]}`;
}

// -- start: every net on every strip digit (their mistakes, the ReLU colour scales), then the page
function start() {
  for (const net of nets) {
    net.stripResults = [];
    for (let i = 0; i < strip.n; i++) net.stripResults.push(forward(net, digitAt(i)));
    net.stripPredictions = net.stripResults.map((r) => top3(r.scores)[0].digit);
    net.mistakes = [];
    net.stripPredictions.forEach((d, i) => { if (d !== strip.labels[i]) net.mistakes.push(i); });
    net.ranges = { h1: layerRange(net, "h1"), h2: layerRange(net, "h2"), h3: layerRange(net, "h3") };
  }
  const cards = $("nets");
  nets.forEach((net, k) => {
    cards.append(buildCard(net, k));
    $(`mistakes-${k}`).textContent = `show me its mistakes (${net.mistakes.length} of ${strip.n})`;
    const [lo, hi] = net.ranges.h1;
    $(`scale-${k}`).textContent = net.cfg.activation === "relu"
      ? `ReLU units: white 0, full red ${hi.toFixed(2)} (H1), ${net.ranges.h2[1].toFixed(2)} (H2), ` +
        `${net.ranges.h3[1].toFixed(2)} (H3): a bright test digit's largest value`
      : `tanh units: blue ${lo}, white 0, red ${hi}`;
  });
  buildStrip();
  // one pass through every step with a made-up stroke, so that the first real stroke does not
  // wait for the JS engine to compile them (about 20 ms once); then the empty page
  state.strokes = [[[60, 60], [160, 60], [100, 170]]];
  update();
  state.strokes = [];
  update();
  state.timings = [];
}

start();

// for tests/test_demo.py (and for anyone poking at the page from the console)
window.lecun1989 = {
  DATA, nets, strip, state, forward, top3, update, showTestDigit, nextMistake, decodeFloats,
  greyOfRGBA, ink_of, crop_to_ink, _resize, mnist_field, to16, to_input, prepare,
};
