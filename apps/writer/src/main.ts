import 'reflect-metadata';
import { runWorkerMain } from '@twinstore/platform';

// The writer service alone: one subscription of topic twin-events, management port for health and metrics.
void runWorkerMain('writer');
