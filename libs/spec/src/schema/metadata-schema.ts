/** `metadata`: what the experiment is called. */
import { z } from 'zod';
import { expected } from './field-builders';

/** Kubernetes' DNS-1123 label, so the name can be a pod, queue or metric label as is. */
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_NAME_LENGTH = 63;

export const metadataSchema = z
  .strictObject({
    /**
     * The experiment's name: lowercase letters, digits and '-', starting and ending with
     * a letter or digit, at most 63 characters (a DNS-1123 label). No default: it names
     * checkpoints, queues and dashboards, so it has to be chosen.
     */
    name: z
      .string({
        error: expected(`a DNS-1123 label (lowercase letters, digits and '-', alphanumeric at both ends, ≤ ${MAX_NAME_LENGTH} characters)`),
      })
      .max(MAX_NAME_LENGTH)
      .regex(DNS_1123_LABEL),
  })
  .describe('What the experiment is called.');

export type ExperimentMetadata = z.output<typeof metadataSchema>;
