// approvals.js — #/approvals: approve steps waiting for a verdict. The
// approve and reject buttons are shown only to approvers and admins (and
// only where the API says can_approve) — the coordinator decides anyway.
import { fill, add, h, fmtTime, announce } from './util.js';
import * as api from './api.js';

export async function render(main, ctx) {
  const d = await api.get('/api/approvals');
  if (!ctx.alive()) return;
  const rows = d.approvals || [];
  const mayAct = api.canApprove();
  add(main, h('h1', {}, 'Approvals'));
  if (!mayAct) add(main, h('p', { class: 'muted', id: 'no-approve' }, 'You may look but not approve: your key has no approve grant.'));
  if (!rows.length) { add(main, h('p', { id: 'no-approvals' }, 'Nothing is waiting for approval.')); return; }
  const list = h('ul', { class: 'plain', id: 'approvals' });
  add(main, list);
  for (const a of rows) {
    const key = `${a.run_id}-${a.step}`;
    const result = h('p', { 'aria-live': 'polite', id: `result-${key}` });
    const item = h('li', { class: 'panel', 'data-run': String(a.run_id), 'data-step': a.step },
      h('h2', {}, `${a.model || '?'}${a.version ? ':' + a.version : ''} `, h('span', { class: 'muted' }, `(${a.workflow}, run `),
        h('a', { href: `#/runs/${a.run_id}` }, String(a.run_id)), h('span', { class: 'muted' }, `, step ${a.step})`)),
      h('p', { class: 'muted' }, `waiting since ${fmtTime(a.waiting_since)}`,
        ' · ', a.model ? h('a', { href: `#/models/${encodeURIComponent(a.model)}` }, 'registry') : ''));
    if (mayAct && a.can_approve !== false) {
      const reason = h('textarea', { id: `reason-${key}`, rows: '2', cols: '50', maxlength: '1000', required: true });
      const act = approve => async () => {
        if (!reason.value.trim()) { result.textContent = 'A reason is needed.'; reason.focus(); return; }
        for (const b of item.querySelectorAll('button')) b.disabled = true;
        try {
          const r = await api.post(`/api/approvals/${a.run_id}/${encodeURIComponent(a.step)}`, { approve, reason: reason.value.trim() });
          result.textContent = r && r.result ? r.result : (approve ? 'Approved.' : 'Rejected.');
          item.dataset.done = approve ? 'approved' : 'rejected';
          announce(result.textContent);
        } catch (e) {
          result.textContent = e.message;
          result.className = 'error';
          for (const b of item.querySelectorAll('button')) b.disabled = false;
        }
      };
      add(item, h('label', { for: `reason-${key}` }, 'Reason (kept in the audit trail and the stage history)', reason),
        h('div', { class: 'bar' },
          h('button', { type: 'button', class: 'primary approve', onclick: act(true) }, 'Approve'),
          h('button', { type: 'button', class: 'danger reject', onclick: act(false) }, 'Reject')));
    }
    add(item, result);
    add(list, item);
  }
}
