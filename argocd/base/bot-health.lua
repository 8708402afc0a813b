-- Health of a skybots.dev Bot as Argo CD shows it (argocd-cm key
-- resource.customizations.health.skybots.dev_Bot, written there by argocd/kustomization.yaml).
--
-- Argo CD runs this with Lua 5.1's base, table and package libraries only: no string library,
-- so no string.format and no s:sub(). `obj` is the Bot; the result is {status, message}.
--
-- The first rule that matches wins:
--   1. spec.suspend is true: Suspended. Suspending is the owner's deliberate act and the bot runs
--      nothing, so it is not Degraded (an app turning Degraded for a paused bot pages someone for
--      nothing); a problem Ready reports is kept in the message, to be seen before resuming.
--   2. The operator has not acted on this spec yet (no status.observedGeneration, or one behind
--      metadata.generation) or has not set Ready yet: Progressing. A Ready condition written
--      for an older spec says nothing about the current one.
--   3. Ready is False: Degraded, with the condition's "reason: message".
--   4. Ready is True: Healthy.
--   5. Ready is Unknown: Progressing.

local function ready_condition(status)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      return condition
    end
  end
  return nil
end

local function explain(condition)
  local reason = condition.reason or "NoReason"
  if condition.message == nil or condition.message == "" then
    return reason
  end
  return reason .. ": " .. condition.message
end

local function stale(bot)
  local observed = bot.status and bot.status.observedGeneration
  local generation = bot.metadata and bot.metadata.generation
  if observed == nil then
    return "Waiting for the operator to reconcile the bot"
  end
  if generation ~= nil and observed < generation then
    return "Waiting for the operator to reconcile generation " .. generation
      .. " (it last reconciled " .. observed .. ")"
  end
  return nil
end

local hs = {}
local ready = ready_condition(obj.status)
local waiting = stale(obj)

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended by spec.suspend"
  if waiting == nil and ready ~= nil and ready.status == "False" then
    hs.message = hs.message .. "; not ready: " .. explain(ready)
  end
elseif waiting ~= nil then
  hs.status = "Progressing"
  hs.message = waiting
elseif ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
elseif ready.status == "False" then
  hs.status = "Degraded"
  hs.message = explain(ready)
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
else
  hs.status = "Progressing"
  hs.message = "Ready is Unknown: " .. explain(ready)
end
return hs
