-- Argo CD health check of a kraftwerk KafkaCluster (kraftwerk.dev/v1alpha1). Install it under
-- resource.customizations.health.kraftwerk.dev_KafkaCluster in the argocd-cm ConfigMap
-- (docs/gitops.md). Tested against status objects of real clusters (tests/integration_gitops.rs).
--   Degraded     the spec is invalid, or Degraded=True (nodes stuck, a roll timed out)
--   Suspended    the rollout is paused, or a canary waits for approval
--   Progressing  the operator has not observed this generation yet, or Progressing=True
--                (starting, rolling, reconfiguring, scaling), or not Ready yet
--   Healthy      Ready=True and not Progressing, at the current generation
local hs = {}

local function condition(kind)
  if obj.status ~= nil and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == kind then
        return c
      end
    end
  end
  return nil
end

local function result(status, message)
  hs.status = status
  hs.message = message
  return hs
end

if obj.status == nil or obj.status.observedGeneration == nil
    or obj.status.observedGeneration ~= obj.metadata.generation then
  return result("Progressing", "waiting for the operator to observe generation " .. tostring(obj.metadata.generation))
end

local ready = condition("Ready")
local progressing = condition("Progressing")
local degraded = condition("Degraded")

for _, c in ipairs({ ready, progressing, degraded }) do
  if c ~= nil and c.reason == "InvalidSpec" then
    return result("Degraded", c.message)
  end
end
if degraded ~= nil and degraded.status == "True" then
  return result("Degraded", degraded.message)
end

local rollout = obj.status.rollout
if progressing ~= nil and (progressing.reason == "RolloutPaused" or progressing.reason == "CanaryWaiting") then
  return result("Suspended", progressing.message)
end
if rollout ~= nil and rollout.awaitingApproval ~= nil then
  return result("Suspended", "a canary waits for approval of change " .. rollout.awaitingApproval)
end
if progressing ~= nil and progressing.status == "True" then
  return result("Progressing", progressing.message)
end
if ready ~= nil and ready.status == "True" then
  return result("Healthy", ready.message)
end
if ready ~= nil then
  return result("Progressing", ready.message)
end
return result("Progressing", "waiting for the first status")
