import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { CampaignDefinitionError, nextRuns, parseCampaignYaml } from '../../server/domain/campaign/definition.ts';

test('every example campaign definition parses, and its recurrence says when it runs', () => {
  const files = readdirSync('examples/campaigns').filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length > 0);
  for (const f of files) {
    const d = parseCampaignYaml(readFileSync(`examples/campaigns/${f}`, 'utf8'), f);
    assert.ok(d.title.length >= 3, f);
    if (d.recurrence) assert.equal(nextRuns(d, new Date('2027-02-10T00:00:00Z')).length, 3, f);
  }
  const quarterly = parseCampaignYaml(readFileSync('examples/campaigns/quarterly-proxmox.yaml', 'utf8'));
  assert.deepEqual(nextRuns(quarterly, new Date('2027-02-10T00:00:00Z'), 2).map((t) => t.slice(0, 10)), ['2027-04-01', '2027-07-01']);
});

test('a bad definition names the file, the field and the reason', () => {
  const bad = (text: string): string => {
    try {
      parseCampaignYaml(text, 'c.yaml');
    } catch (err) {
      assert.ok(err instanceof CampaignDefinitionError);
      return err.message;
    }
    assert.fail('accepted');
  };
  assert.match(bad('title: ok title\nreviewers: {users: [a]}\nrecurrence: "61 * * * *"\n'), /^c\.yaml: recurrence: not a cron expression/);
  assert.match(bad('title: ok title\nreviewers: {users: [a]}\nscope: {backend: [hyperv]}\n'), /scope\.backend/);
  assert.match(bad('title: ok title\nreviewers: {users: [a]}\ndurationDays: 3\nremindDaysBefore: 5\n'), /remindDaysBefore: must be less than durationDays/);
  assert.match(bad('title: [unclosed\n'), /^c\.yaml: /);
});
