/** The task kinds of the compute service, registered on one runner per API process. */
import { bootTask } from './boot.js';
import { deleteTask } from './delete.js';
import { interfaceTask } from './interface.js';
import { powerTask } from './power.js';
import { rebuildTask } from './rebuild.js';
import { snapshotTask } from './snapshot.js';
import { TaskRunner, type TaskEnv } from './runner.js';

export function createTaskRunner(env: TaskEnv): TaskRunner {
  const runner = new TaskRunner(env);
  runner.register(bootTask);
  runner.register(deleteTask);
  runner.register(interfaceTask);
  runner.register(powerTask);
  runner.register(rebuildTask);
  runner.register(snapshotTask);
  return runner;
}
