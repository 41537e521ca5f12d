from django.urls import path

from rag import views

urlpatterns = [
    path("toolkit", views.chat, name="toolkit-chat"),
    path("toolkit/c/<int:conversation_id>", views.chat, name="conversation"),
    path("api/rag/answer", views.answer, name="api-answer"),
    path("api/rag/answer/stream", views.answer_stream, name="api-answer-stream"),
    path("api/rag/conversations", views.conversation_list, name="api-conversations"),
    path("api/rag/conversations/<int:conversation_id>", views.conversation_detail, name="api-conversation"),
    path("api/rag/messages/<int:message_id>/feedback", views.feedback, name="api-feedback"),
]
