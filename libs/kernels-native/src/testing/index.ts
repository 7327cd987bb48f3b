export { describeNative } from './describe-native';
