export { describeNative, itNative } from './describe-native';
