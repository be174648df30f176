package redisstore

// putFlowScript stores a new revision of a workflow (creating the workflow as a draft).
// See lua/put_flow.lua for its KEYS and ARGV.
var putFlowScript = newScript("put_flow")

// activateFlowScript activates the latest revision of a workflow, if the tenant's plan allows it,
// on behalf of the activating user, whose authority the workflow then acts with.
// See lua/activate_flow.lua for its KEYS and ARGV.
var activateFlowScript = newScript("trigger_reads", "activate_flow")

// pauseFlowScript pauses a workflow.
// See lua/pause_flow.lua for its KEYS and ARGV.
var pauseFlowScript = newScript("trigger_reads", "pause_flow")

// setPlanScript changes a tenant's plan; when the new plan does not allow workflows, it pauses
// every active workflow of the tenant in the same step (never deleting one).
// See lua/set_plan.lua for its KEYS and ARGV.
var setPlanScript = newScript("trigger_reads", "set_plan")
