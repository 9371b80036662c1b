// Runs a drover ONNX export with onnxruntime (onnxruntime-node, CPU) on a
// CSV and compares with drover's predictions for the same file.
//   node onnx_ort.js MODEL.onnx DATA.csv PREDICTIONS.csv
// Exit 0 when the predicted classes are identical and every probability
// (or value) is within 1e-5 (values: plus 1e-5 relative).
const fs = require('fs');
const ort = require('onnxruntime-node');

function readCsv(path) {
  const lines = fs.readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.length > 0);
  return { head: lines[0].split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

(async () => {
  const [modelPath, dataPath, predPath] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(modelPath);
  // onnxruntime-node does not expose custom metadata: the names come beside
  // (MODEL.onnx.features.json / .classes.json, written by the test).
  const features = JSON.parse(fs.readFileSync(modelPath + '.features.json', 'utf8'));
  const classes = fs.existsSync(modelPath + '.classes.json')
    ? JSON.parse(fs.readFileSync(modelPath + '.classes.json', 'utf8')) : null;
  const data = readCsv(dataPath);
  const idx = features.map((f) => data.head.indexOf(f));
  if (idx.some((i) => i < 0)) throw new Error('a feature is missing from the data');
  const n = data.rows.length, d = features.length;
  const x = new Float32Array(n * d);
  data.rows.forEach((r, i) => idx.forEach((c, j) => {
    x[i * d + j] = r[c].trim() === '' ? NaN : parseFloat(r[c]);
  }));
  const out = await session.run({ input: new ort.Tensor('float32', x, [n, d]) });
  const pred = readCsv(predPath);
  if (pred.rows.length !== n) throw new Error('row counts differ');
  let worst = 0;
  if (!classes) {
    const v = out.value.data, vc = pred.head.indexOf('value');
    pred.rows.forEach((r, i) => {
      const want = parseFloat(r[vc]);
      const diff = Math.abs(v[i] - want);
      worst = Math.max(worst, diff);
      if (diff > 1e-5 + 1e-5 * Math.abs(want)) throw new Error(`row ${i + 1}: ${v[i]} vs ${want}`);
    });
    console.log(`ok (onnxruntime ${ort.env.versions ? ort.env.versions.common : ''}): ${n} values, largest difference ${worst.toExponential(2)}`);
    return;
  }
  const p = out.probabilities.data, lab = out.label.data, k = classes.length;
  const cc = pred.head.indexOf('class');
  const pc = classes.map((c) => pred.head.indexOf('p_' + c));
  pred.rows.forEach((r, i) => {
    if (classes[Number(lab[i])] !== r[cc]) throw new Error(`row ${i + 1}: class ${classes[Number(lab[i])]} vs ${r[cc]}`);
    for (let j = 0; j < k; j++) {
      const diff = Math.abs(p[i * k + j] - parseFloat(r[pc[j]]));
      worst = Math.max(worst, diff);
      if (diff > 1e-5) throw new Error(`row ${i + 1} class ${classes[j]}: differs by ${diff}`);
    }
  });
  console.log(`ok (onnxruntime): ${n} rows, classes identical, probabilities within ${worst.toExponential(2)}`);
})().catch((e) => { console.error('FAIL: ' + e.message); process.exit(1); });
