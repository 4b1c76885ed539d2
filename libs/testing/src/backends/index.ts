export { startAzureTestBackends, azureProfileEnv } from './azure-test-backends';
export type {
  AzureTestBackends,
  AzureTestBackendsOptions,
  AzureTestEndpoints,
  AzureTestProvider,
} from './azure-test-backends';
export { dockerAvailable, detectDocker } from './docker-detection';
export type { DockerDetection } from './docker-detection';
export { serviceBusEmulatorConfig, SERVICE_BUS_EMULATOR_NAMESPACE } from './servicebus-emulator-config';
export type { ServiceBusEmulatorConfig } from './servicebus-emulator-config';
