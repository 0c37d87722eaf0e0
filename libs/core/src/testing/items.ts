import type { FunctionCallItem, FunctionCallOutputItem } from '../items';

// Items the core specs share: one weather call and its output.

export const CALL: FunctionCallItem = {
  type: 'function_call',
  id: 'fc_1',
  call_id: 'call_1',
  name: 'get_weather',
  arguments: '{"city":"Paris"}',
  status: 'completed',
};

export const CALL_OUTPUT: FunctionCallOutputItem = {
  type: 'function_call_output',
  id: 'fco_1',
  call_id: 'call_1',
  output: 'sunny',
  status: 'completed',
};
