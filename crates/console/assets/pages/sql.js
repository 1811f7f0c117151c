// A chain's ledger tables (TrustSQL): the tables with their schemas, a query editor (SELECT,
// INSERT, CREATE TABLE: the statements the MySQL gateway takes, signed for the organization
// you act for; SELECT only, said up front, for who may not write there), and a row's detail
// with its proof, which the platform verifies from the chain's genesis on request.
import { get, post, permitted } from '../api.js';
import { h, clear, card, table, field, form, empty, chip, link, short, action } from '../ui.js';
import { t } from '../i18n.js';
import { actingOrg, actingFor } from '../app.js';

const SYSTEM = ['_tx', '_height', '_signer', '_row_hash'];

// A cell as text: NULL, numbers and strings as they are.
const cell = (v) => (v === null ? 'NULL' : String(v));

// The table a `SELECT … FROM t` reads, if it names one of `tables`.
function readTable(sql, tables) {
  const m = sql.match(/\bfrom\s+`?([A-Za-z0-9_$]+)`?/i);
  return m ? tables.find((x) => x.name === m[1]) : undefined;
}

export async function render(main, params) {
  const id = params.chain;
  const chain = await get(`/v1/chains/${id}`);
  const tablesBox = h('div', {});
  const editorBox = h('div', {});
  const resultBox = h('div', {});
  const rowBox = h('div', {});
  clear(main, h('h1', {}, t('sql_of', { chain: chain.name })), tablesBox, editorBox, resultBox, rowBox);
  if (chain.status !== 'running') {
    clear(tablesBox, card(null, empty(t('not_started'), t('not_started_hint'), link(`#/chains/${id}`, t('continue_wizard')))));
    return;
  }
  // Reads are open to every member; writes are transactions for an organization on the chain.
  const org = actingOrg() || chain.orgs[0];
  const writes = (await permitted(chain.orgs.includes(org) ? org : null, ['contract:invoke'], `chains/${id}/contracts`)).has('contract:invoke');
  let tables = [];
  // The block of this page's latest write: reads wait for it, whichever node answers.
  let written = 0;
  const editor = h('textarea', { name: 'sql', required: true, rows: 5, spellcheck: 'false', 'data-test': 'sql-editor',
    placeholder: writes
      ? 'CREATE TABLE orders (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, customer VARCHAR(32) NOT NULL, amount DOUBLE)'
      : 'SELECT * FROM orders LIMIT 100' });

  const schema = (x) => h('div', { 'data-test': `schema-${x.name}` },
    table([
      { label: t('column'), render: (c) => h('code', {}, c.name) },
      { label: t('sql_type'), render: (c) => c.type },
      { label: t('nullable'), render: (c) => (c.nullable ? t('yes') : t('no')) },
      { label: t('key'), render: (c) => [x.primary_key.includes(c.name) ? chip('PRI', 'ok') : null, c.auto_increment ? chip('auto_increment') : null] },
    ], x.columns),
    x.indexes.length ? h('p', { class: 'muted' }, t('indexes'), ': ', x.indexes.map((i) => `${i.name} (${i.columns.join(', ')})`).join('; ')) : null,
    h('p', { class: 'muted' }, t('table_created', { height: x.height, creator: short(x.creator, 12) })));

  const drawTables = async () => {
    tables = await get(`/v1/chains/${id}/sql/tables`);
    clear(tablesBox, card(t('ledger_tables'), tables.length
      ? table([
        { label: t('name'), render: (x) => h('a', { href: `#/chains/${id}/sql`, 'data-test': `table-${x.name}`, onclick: (e) => {
          e.preventDefault();
          const key = x.primary_key.map((k) => `\`${k}\``).join(', ');
          editor.value = `SELECT * FROM \`${x.name}\` ORDER BY ${key} LIMIT 100`;
          clear(rowBox, card(t('schema_of', { table: x.name }), schema(x)));
        } }, x.name) },
        { label: t('rows'), render: (x) => String(x.rows) },
        { label: t('columns'), render: (x) => x.columns.map((c) => `${c.name} ${c.type}`).join(', ') },
      ], tables)
      : empty(t('no_tables'), t('no_tables_hint'))));
  };

  const showRow = (x, columns, row) => {
    const value = (name) => row[columns.findIndex((c) => c.name === name)];
    const key = x.primary_key.map((k) => cell(value(k)));
    const verdict = h('div', {});
    const verify = action(t('verify'), async () => {
      const p = await post(`/v1/chains/${id}/sql/verify`, { table: x.name, key });
      clear(verdict,
        h('p', { 'data-test': 'verify-result' }, p.projection_matches
          ? chip(t('verified'), 'ok')
          : chip(t('projection_differs'), 'bad'), ' ',
        t('verified_detail', { height: p.certificate.height, headers: p.headers })),
        p.projection_detail ? h('p', { class: 'error' }, p.projection_detail) : null,
        h('dl', { class: 'kv' },
          h('dt', {}, t('block')), h('dd', {}, link(`#/chains/${id}/explorer/block/${p.certificate.height}`, `#${p.certificate.height}`), ' ', h('code', {}, short(p.certificate.hash, 16))),
          h('dt', {}, t('state_root')), h('dd', {}, h('code', {}, p.certificate.state_root)),
          h('dt', {}, t('row_key')), h('dd', {}, h('code', {}, p.row_proof.key))),
        h('details', {}, h('summary', {}, t('row_proof')), h('pre', { class: 'snippet' }, p.row_proof.proof)),
        h('details', {}, h('summary', {}, t('table_proof')), h('pre', { class: 'snippet' }, p.table_proof.proof)),
        h('details', {}, h('summary', {}, t('certificate')), h('pre', { class: 'snippet' }, p.certificate.encoded)));
      verdict.scrollIntoView({ block: 'center' });
    }, { 'data-test': 'verify-row' });
    clear(rowBox, card(t('row_of', { table: x.name, key: key.join(', ') }),
      h('dl', { class: 'kv', 'data-test': 'row-detail' }, columns.flatMap((c, i) => [
        h('dt', {}, c.name), h('dd', {}, SYSTEM.includes(c.name) && c.name !== '_height' ? h('code', {}, cell(row[i])) : cell(row[i])),
      ])),
      h('p', { class: 'muted' }, t('verify_hint')),
      h('div', { class: 'row' }, verify), verdict));
  };

  const showResult = (sql, r) => {
    if (!r.columns.length) {
      const said = r.affected_rows ? t('rows_inserted', { n: r.affected_rows, height: r.height }) : t('statement_done', { height: r.height });
      const id = r.last_insert_id ? ` ${t('first_id', { id: r.last_insert_id })}` : '';
      return clear(resultBox, card(t('result'), h('p', { 'data-test': 'sql-result' }, chip(t('committed'), 'ok'), ' ', said, id)));
    }
    const x = readTable(sql, tables);
    const provable = x && x.primary_key.every((k) => r.columns.some((c) => c.name === k));
    // Hashes and addresses shortened (the full value on hover and in the row's detail).
    const shown = (name, v) => (SYSTEM.includes(name) && typeof v === 'string' ? h('code', { title: v }, short(v, 10)) : cell(v));
    const columns = r.columns.map((c, i) => ({ label: c.name, render: (row) => shown(c.name, row[i]) }));
    if (provable) {
      columns.push({ label: '', render: (row) => h('a', { href: `#/chains/${id}/sql`, 'data-test': `row-${r.rows.indexOf(row)}`,
        onclick: (e) => { e.preventDefault(); showRow(x, r.columns, row); } }, t('proof')) });
    }
    clear(resultBox, card(t('result_rows', { n: r.rows.length, height: r.height }),
      h('div', { 'data-test': 'sql-result' }, table(columns, r.rows, t('no_rows')))));
  };

  clear(editorBox, card(t('query'), form([field(t('statement'), editor)], t('run'), async () => {
    const sql = editor.value.trim();
    const r = await post(`/v1/chains/${id}/sql`, { sql, min_height: written || undefined, ...actingFor() });
    if (!r.columns.length) {
      written = Math.max(written, r.height);
      await drawTables();
    }
    showResult(sql, r);
  }, { test: 'sql-form', submitTest: 'sql-run' }),
  writes ? h('p', { class: 'muted' }, t('sql_hint')) : h('p', { class: 'muted', 'data-test': 'sql-read-only' }, chip(t('read_only')), ' ', t('sql_read_only_hint'))));
  await drawTables();
}
